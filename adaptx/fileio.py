"""Where adaptx keeps its files, and how it reads and writes them.

Atomic file writes: write beside the target, then rename, so readers never see half a file.
`read_json`: the one reader of adaptx's own JSON files (run folders, caches), which turns every
way such a file can be broken -- missing, not UTF-8, not JSON, nested too deep for Python's
parser, the wrong top-level type -- into an AdaptxError naming the file and the remedy
(`load_json` beneath it, for the few readers whose messages are their own).
`read_text`: the one way adaptx opens a text file a user names (configs, run-folder files): a
FIFO, socket or device is refused before it is opened, so a read never blocks forever.
Paths adaptx writes pass `path_problem` (a NUL byte, a name longer than file systems allow) and
`check_output_folder` / `check_output_file` before any work is done, and an OSError while writing
becomes a `WriteError`: one line naming the file and what to do (`os_error_text`).
`adaptx_home` lives here (not in embedded.py) because both the embedded-model cache and the
fingerprint cache need it, and embedded.py itself needs fingerprint.file_digest.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from contextlib import contextmanager
from pathlib import Path

from .errors import AdaptxError

JSON_TYPES = {dict: "a JSON object", list: "a JSON list"}
NAME_MAX = 255  # bytes in one file or folder name (ext4, xfs, btrfs, APFS, NTFS in characters)
PATH_MAX = 4096  # bytes in a whole path (Linux)
# errno -> what to do about it, for the files adaptx writes
_REMEDIES = {
    errno.ENOSPC: "no space left on the device: free space there (or write somewhere else) and run the same "
                  "command again; what was finished is kept",
    errno.EDQUOT: "disk quota exceeded: free space there (or write somewhere else) and run the same command again; "
                  "what was finished is kept",
    errno.EFBIG: "a file larger than this file system (or the process's file-size limit) allows: free space or "
                 "write somewhere else, and run the same command again; what was finished is kept",
    errno.EROFS: "a read-only file system: write somewhere else",
    errno.EACCES: "no permission to write there: write somewhere else, or change its permissions",
    errno.EPERM: "not permitted there: write somewhere else",
    errno.ENAMETOOLONG: f"a name longer than the file system allows ({NAME_MAX} bytes): choose a shorter one",
    errno.EISDIR: "a folder is in the way of the file: move it aside, or write somewhere else",
    errno.ENOTDIR: "a file is in the way of a folder of that path: move it aside, or write somewhere else",
}


class WriteError(AdaptxError, OSError):
    """An OSError while writing a file, said in one line. Still an OSError, so that code cleaning up
    after a failed write (e.g. putting a renamed folder back) catches it as before."""


def os_error_text(exc: OSError, path=None) -> str:
    """`PATH: reason; what to do` for an OSError on a path adaptx reads or writes."""
    where = path if path is not None else exc.filename
    reason = exc.strerror or str(exc) or type(exc).__name__
    remedy = _REMEDIES.get(exc.errno)
    return f"{where if where is not None else 'a file'}: {reason}" + (f"; {remedy}" if remedy else "")


@contextmanager
def writing(path, what: str = "cannot write"):
    """Turn an OSError of the block into a WriteError naming `path` (a file or the folder written into)."""
    try:
        yield
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(f"{what} {os_error_text(exc, exc.filename or path)}") from exc


# errors that say the disk, not the data, is the problem: the run can go on once space is freed
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")  # how libraries written in Rust (safetensors) say it


def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, OSError):
        return exc.errno
    found = _RUST_OS_ERROR.search(str(exc))
    return int(found.group(1)) if found else None


@contextmanager
def writes_into(folder):
    """A long command writing into `folder` (a run): the disk filling up (or turning read-only) at any
    point -- our own files, a library's weight files -- is one line naming the folder and what to free."""
    try:
        yield
    except AdaptxError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised unless it is a disk error
        code = _errno_of(exc)
        if code not in DISK_ERRNOS:
            raise
        where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
        error = WriteError(f"{folder}: {os.strerror(code)} while writing into it{where}; {_REMEDIES[code]}")
        error.errno = code
        raise error from exc


def path_problem(path) -> str | None:
    """What makes `path` unusable before the file system is asked: a NUL byte, a name or a whole path
    longer than file systems allow, text that is not a file name. None when it is fine."""
    text = os.fspath(path)
    if "\0" in text:
        return "holds a NUL byte, which no file name can hold"
    try:
        encoded = os.fsencode(text)
    except UnicodeEncodeError:
        return "holds characters no file name can hold (a lone surrogate)"
    longest = max((len(os.fsencode(part)) for part in Path(text).parts), default=0)
    if longest > NAME_MAX:
        return f"holds a name of {longest} bytes; file systems allow at most {NAME_MAX}: choose a shorter one"
    if len(encoded) > PATH_MAX:
        return f"is {len(encoded)} bytes long; paths are at most {PATH_MAX}"
    return None


def check_path(path, what: str) -> Path:
    """`path` as a Path, or an AdaptxError naming `what` (e.g. "--out") when path_problem finds one."""
    problem = path_problem(path)
    if problem:
        raise AdaptxError(f"{what} {_shown(path)}: {problem}")
    return Path(path)


def _shown(path) -> str:
    text = repr(os.fspath(path))
    return text if len(text) <= 120 else text[:80] + "..." + text[-30:]


def _nearest_existing(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if os.path.lexists(p)), Path("."))


def check_output_folder(path, what: str) -> Path:
    """A folder adaptx will write into, checked before any work: a usable path, not a file, and the
    nearest folder that exists is a writable folder (the rest is created)."""
    path = check_path(path, what)
    if path.exists() and not path.is_dir():
        raise AdaptxError(f"{what} {path} is a file, not a folder; pass a folder (new or existing)")
    nearest = _nearest_existing(path)
    if not nearest.is_dir():
        raise AdaptxError(f"{what} {path}: {nearest} is a file, so no folder can be made there; pass another folder")
    if not os.access(nearest, os.W_OK):
        raise AdaptxError(f"{what} {path}: {nearest} is not writable; pass a folder you can write to")
    return path


def check_output_file(path, what: str) -> Path:
    """A file adaptx will write (replacing it if it exists), checked before any work: a usable path,
    not a folder, inside a writable folder that exists."""
    path = check_path(path, what)
    if path.is_dir():
        raise AdaptxError(f"{what} {path} is a folder; pass a file path")
    if path.exists() and not path.is_file():
        raise AdaptxError(f"{what} {path} is not a regular file (a FIFO, socket or device); pass a file path")
    parent = path.parent
    if not parent.is_dir():
        raise AdaptxError(f"{what} {path}: folder {parent} does not exist; create it first, or pass another path")
    if not os.access(parent, os.W_OK):
        raise AdaptxError(f"{what} {path}: folder {parent} is not writable; pass another path")
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` as UTF-8, all or nothing; a failure is a WriteError naming the file."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # per process: two writers never share a temp file
    try:
        with writing(path):
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # e.g. a name too long: the temp file was never made
            pass


def write_new_file(path: Path, data: bytes) -> None:
    """Create `path` with `data`; refused when anything is there already, a symbolic link included
    (even one that leads nowhere: following it would write outside the folder named). A failed
    write leaves nothing behind."""
    path = Path(path)
    with writing(path):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        except FileExistsError:
            link = f" (a symbolic link to {os.readlink(path)})" if path.is_symlink() else ""
            raise AdaptxError(f"{path} already exists{link}; give another path, or delete it first") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise


def open_regular(path, mode: str = "r", **kwargs):
    """open(path, mode) for reading, refusing anything but a regular file before it can block: the
    file is opened non-blocking and checked (a FIFO with no writer would otherwise wait forever)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AdaptxError(f"{path}: not a regular file (a FIFO, socket, device or folder); adaptx reads plain "
                              "files only")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return open(fd, mode, closefd=True, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def read_text(path, encoding: str = "utf-8") -> str:
    """The text of a regular file (open_regular); OSError and UnicodeDecodeError are the caller's to word."""
    with open_regular(path, "r", encoding=encoding) as handle:
        return handle.read()


class NestedTooDeeply(ValueError):
    """A JSON file nested deeper than Python's parser recurses."""


def load_json(path: Path):
    """The parsed content of a JSON file, for a reader that words its own errors: OSError and ValueError
    (JSONDecodeError, UnicodeDecodeError, NestedTooDeeply) are the caller's, and a FIFO or device is an
    AdaptxError before it is opened (read_text). read_json is this with adaptx's usual words."""
    try:
        return json.loads(read_text(path))
    except RecursionError:  # json's parser recurses once per nesting level: a hostile file exhausts the stack
        raise NestedTooDeeply(f"{path}: JSON nested too deeply") from None


def read_json(path: Path, remedy: str, expect: type | None = None):
    """The parsed content of a JSON file; `expect` (dict or list): the top-level type it must have."""
    path = Path(path)
    try:
        data = load_json(path)
    except FileNotFoundError:
        raise AdaptxError(f"{path} is missing; {remedy}") from None
    except NestedTooDeeply:
        raise AdaptxError(f"{path} is unreadable (JSON nested too deeply); {remedy}") from None
    except AdaptxError as exc:  # not a regular file
        raise AdaptxError(f"{exc}; {remedy}") from None
    except (OSError, ValueError) as exc:  # ValueError: JSONDecodeError and UnicodeDecodeError
        raise AdaptxError(f"{path} is unreadable ({type(exc).__name__}: {str(exc)[:100]}); {remedy}") from exc
    if expect is not None and not isinstance(data, expect):
        raise AdaptxError(f"{path}: expected {JSON_TYPES.get(expect, expect.__name__)}, found "
                          f"{type(data).__name__}; {remedy}")
    return data


def adaptx_home() -> Path:
    """Per-user cache root; `ADAPTX_HOME` overrides it."""
    env = os.environ.get("ADAPTX_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "adaptx"
