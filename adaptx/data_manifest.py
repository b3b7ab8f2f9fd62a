"""The manifest of a data folder that adaptx wrote (`adaptx data pull`, the built-in packs).

`adaptx-manifest.json` lists every file adaptx put in the folder with its sha256, size, row
count and source, so `adaptx data verify DIR` can tell missing, changed and extra files
apart. It is written last: a folder without it is not a complete pull. While a pull moves
its files into place, `.adaptx-pull-incomplete.json` records the old and the new entries,
so an interrupted pull is recognised (and a rerun may replace its files) instead of being
mistaken for someone else's data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AdaptxError
from .fileio import atomic_write_text
from .fingerprint import sha256_file
from .readers import TEXT_ENCODING, parse_json

MANIFEST = "adaptx-manifest.json"
INCOMPLETE = ".adaptx-pull-incomplete.json"  # present only while (or because) a pull was moving files
STAGING = ".adaptx-pull-staging"  # where a pull writes files before they are complete
FORMAT_VERSION = 1


def file_entry(path: Path, **extra) -> dict:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size, **extra}


def write_manifest(folder: Path, files: dict[str, dict], **meta) -> None:
    manifest = {"adaptx_data_manifest": FORMAT_VERSION, **meta, "files": dict(sorted(files.items()))}
    text = json.dumps(manifest, indent=1, ensure_ascii=False)
    # lists of plain values (row ids, columns) on one line; JSON strings hold no raw line breaks,
    # so only layout whitespace is touched
    text = re.sub(r"\[\n\s*([^\[\]{}]*?)\n\s*\]", lambda m: "[" + re.sub(r"\n\s*", " ", m.group(1)) + "]", text)
    atomic_write_text(Path(folder) / MANIFEST, text + "\n")


def read_manifest(folder: Path, name: str = MANIFEST) -> dict | None:
    """The manifest (or the incomplete-pull record) of a folder; None where there is none. Its
    file entries are checked: every name a path inside the folder, every entry an object with
    the file's sha256 and size, so nothing that reads a manifest follows it out of the folder."""
    path = Path(folder) / name
    if not path.is_file():
        return None
    redo = "delete the folder and pull again"
    try:
        data = parse_json(path.read_text(encoding=TEXT_ENCODING), path)
    except (OSError, UnicodeDecodeError) as exc:
        raise AdaptxError(f"{path} is unreadable ({type(exc).__name__}: {str(exc)[:100]}); {redo}") from exc
    except AdaptxError as exc:
        raise AdaptxError(f"{exc}; {redo}") from None
    if not isinstance(data, dict) or data.get("adaptx_data_manifest") != FORMAT_VERSION or \
            not isinstance(data.get("files"), dict):
        raise AdaptxError(f"{path}: not an adaptx data manifest (expected 'adaptx_data_manifest': {FORMAT_VERSION} "
                          f"and a 'files' mapping); {redo}")
    for key in ("files", "previous"):  # "previous": the incomplete-pull record's earlier entries
        if key in data:
            _check_entries(path, key, data[key], redo)
    return data


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_entries(path: Path, key: str, files, redo: str) -> None:
    if not isinstance(files, dict):
        raise AdaptxError(f"{path}: '{key}' is {type(files).__name__}, expected a mapping of file names; {redo}")
    for name, entry in files.items():
        where = f"{path}: '{key}' entry {name[:80]!r}"
        problem = unsafe_name(name)
        if problem:
            raise AdaptxError(f"{where}: {problem}; a manifest lists files inside its own folder only "
                              f"(nothing was read); {redo}")
        if not isinstance(entry, dict):
            raise AdaptxError(f"{where} is {type(entry).__name__}, expected an object with 'sha256' and 'bytes'; "
                              f"{redo}")
        digest, size = entry.get("sha256"), entry.get("bytes")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise AdaptxError(f"{where}: 'sha256' is {str(digest)[:80]!r}, expected 64 lowercase hex digits; {redo}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise AdaptxError(f"{where}: 'bytes' is {str(size)[:80]!r}, expected the file size (an integer >= 0); "
                              f"{redo}")


def unsafe_name(name) -> str | None:
    """Why a manifest's file name could point outside its folder (None: it cannot): absolute
    paths, '..', empty or '.' parts, backslashes and drive letters are refused on every OS."""
    if not isinstance(name, str) or not name:
        return "not a file name"
    if "\\" in name or "\0" in name or ":" in name:
        return "a file name with a backslash, NUL or ':' (expected a relative path with '/' separators)"
    if name.startswith("/"):
        return "an absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "a path with '..'"
    if any(part in ("", ".") for part in parts):
        return "a path with an empty or '.' part"
    return None


def files_in(folder: Path) -> list[str]:
    """Every file under folder, relative, with '/' separators; the manifest itself left out."""
    root = Path(folder)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.relative_to(root).as_posix() != MANIFEST)


@dataclass
class FolderCheck:
    folder: Path
    files: int = 0  # listed in the manifest
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)  # listed, but a link (or under one): not read

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.extra or self.linked)

    def problems(self) -> list[str]:
        lines = [f"missing: {name}" for name in self.missing]
        lines += [f"changed: {name} (sha256 differs from {MANIFEST})" for name in self.changed]
        lines += [f"linked: {name} (a symbolic link, or under one; adaptx writes plain files only, so it was not "
                  "read)" for name in self.linked]
        for name in self.extra:
            why = " (left by an interrupted pull)" if name.split("/")[0] in (STAGING, INCOMPLETE) else \
                " (not in the manifest)"
            lines.append(f"extra: {name}{why}")
        return lines


def verify_folder(folder: str | Path) -> FolderCheck:
    """Compare a folder with its manifest: files missing, changed (sha256) or not listed.

    A folder with no manifest is an error, not an empty result: an interrupted pull leaves
    none, so that its files are never taken for complete data."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AdaptxError(f"data folder {folder} does not exist")
    manifest = read_manifest(folder)
    if manifest is None:
        if (folder / INCOMPLETE).is_file():
            raise AdaptxError(f"{folder}: an `adaptx data pull` into it was interrupted while moving files into place "
                              f"(no {MANIFEST}); rerun the same `adaptx data pull ... --out {folder}`")
        raise AdaptxError(f"{folder} has no {MANIFEST}: it is not a folder that `adaptx data pull` completed "
                          "(an interrupted pull leaves none); pull again into it or into a new folder")
    check = FolderCheck(folder, files=len(manifest["files"]))
    for name, entry in manifest["files"].items():
        path = folder / name
        if _through_link(folder, name):
            check.linked.append(name)
        elif not path.is_file():
            check.missing.append(name)
        elif path.stat().st_size != entry.get("bytes") or sha256_file(path) != entry.get("sha256"):
            check.changed.append(name)
    check.extra = [name for name in files_in(folder) if name not in manifest["files"]]
    return check


def _through_link(folder: Path, name: str) -> bool:
    """Whether the path folder/name, or a folder on the way to it, is a symbolic link: reading it
    could read a file outside the folder."""
    path = Path(folder)
    for part in name.split("/"):
        path = path / part
        if path.is_symlink():
            return True
    return False
