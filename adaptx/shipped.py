"""What ships with adaptx by name: experiment configs (`adaptx run quickstart` from any folder,
`adaptx config list | show NAME | cp NAME PATH`), data packs (`builtin:NAME`) and the adapter zoo
(`zoo:NAME`, `adaptx zoo list`).

The configs and the zoo are the repository's top-level configs/ and adapter_zoo/ folders. An
installed adaptx carries them as adaptx/_configs and adaptx/_zoo (setup.py copies them in at build
time); a source checkout or an editable install reads configs/ and adapter_zoo/ themselves. A config's name is its path under that folder without `.yaml`
(`quickstart`, `xtreme/xnli`). What a user types is a path when it ends in .yaml/.yml or names an
existing file, and a shipped config's name otherwise. A path the docs show, `configs/NAME.yaml`, that
is not in the current folder is the shipped config NAME (with a note saying so), so the examples
work from any folder.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path, PurePosixPath

from .errors import AdaptxError
from .fileio import check_path, write_new_file
from .logs import warning

_HERE = Path(__file__).resolve().parent
SUFFIXES = (".yaml", ".yml")
SUMMARY_WIDTH = 120  # characters of a config's description in `adaptx config list`


def configs_dir() -> Path | None:
    """The shipped configs: inside the installed package, else the source checkout's configs/."""
    for folder in (_HERE / "_configs", _HERE.parent / "configs"):
        if folder.is_dir():
            return folder
    return None


def zoo_dir() -> Path | None:
    """The shipped adapter zoo: inside the installed package, else the source checkout's adapter_zoo/
    (only a folder with an index.json: site-packages/adapter_zoo of some other package is not ours)."""
    for folder in (_HERE / "_zoo", _HERE.parent / "adapter_zoo"):
        if (folder / "index.json").is_file():
            return folder
    return None


def shipped_configs() -> dict[str, Path]:
    """name -> file of every shipped config, sorted by name."""
    folder = configs_dir()
    if folder is None:
        return {}
    files = sorted(p for p in folder.rglob("*.yaml") if p.is_file())
    return {p.relative_to(folder).with_suffix("").as_posix(): p for p in files}


def is_path(text: str) -> bool:
    return str(text).endswith(SUFFIXES) or Path(text).is_file()


def shipped_name(text) -> str:
    """The name a shipped config goes by, also when written as the docs' path to it:
    configs/xtreme/xnli.yaml (or ./configs/..., .yml) -> xtreme/xnli; quickstart.yaml -> quickstart."""
    parts = _parts(str(text).removesuffix(".yaml").removesuffix(".yml"))
    return "/".join(parts[1:] if len(parts) > 1 and parts[0] == "configs" else parts)


def _parts(text: str) -> tuple[str, ...]:
    """A path's parts as typed, with / or the system's separator ("./" dropped)."""
    return PurePosixPath(text.replace(os.sep, "/")).parts


def config_file(name: str) -> Path:
    """The file of a shipped config, or a message listing the names there are."""
    found = shipped_configs().get(shipped_name(name))
    if found is None:
        names = ", ".join(shipped_configs()) or "none (this installation ships no configs)"
        raise AdaptxError(f"no shipped config named {name!r}; shipped configs: {names}. A config file of your own "
                          "is a path ending in .yaml (`adaptx config list` shows the shipped ones)")
    return found


def resolve_config(text) -> Path:
    """What `adaptx run/search/rank CONFIG` reads: the path as given, or the shipped config of that name.
    A configs/NAME.yaml that is not here but ships with adaptx is the shipped one, with a note on stderr
    (the docs' examples then work from any folder); a path that is neither names `adaptx config list`."""
    text = str(text)
    if not is_path(text):
        return config_file(text)
    if os.path.lexists(text):  # a file of the user's always wins (load_config reports what is wrong with it)
        return Path(text)
    name = shipped_name(text)
    shipped = shipped_configs().get(name) if _parts(text)[:1] == ("configs",) else None
    if shipped is None:
        raise AdaptxError(f"cannot read config {text}: {os.strerror(errno.ENOENT)} (`adaptx config list` shows the "
                          "configs shipped with adaptx; `adaptx run NAME` runs one from any folder)")
    warning(f"adaptx: {text} is not here; using the shipped config {name} (adaptx config show {name})")
    return shipped


def summary(path: Path, width: int = SUMMARY_WIDTH) -> str:
    """A config's opening sentence (its first comment lines, up to the first full stop), for `adaptx
    config list`. One longer than `width` ends at its last clause boundary (a comma, colon or semicolon
    outside parentheses) that fits, else its last word outside parentheses, marked with '…': never in
    the middle of a phrase."""
    sentence = _first_sentence(" ".join(_opening_comment(path)))
    if len(sentence) <= width:
        return sentence
    outside = [i for i in _outside_parentheses(sentence) if i <= width - 2]
    cuts = [i for i in outside if sentence[i] in ",;:"] or [i for i in outside if sentence[i] == " "]  # else a word
    return sentence[:cuts[-1]].rstrip() + " …"


def _opening_comment(path: Path) -> list[str]:
    """The first comment paragraph of a file: its '#' lines up to a blank one or an indented example."""
    lines = []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                if line.strip() or lines:
                    break
                continue
            if not line[1:].strip() or line[1:].startswith("   "):
                break
            lines.append(line[1:].strip())
    except (OSError, UnicodeDecodeError):
        pass
    return lines


def _outside_parentheses(text: str):
    """The index of each character of `text` outside parentheses."""
    depth = 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if depth == 0 and char not in "()":
            yield i


def _first_sentence(text: str) -> str:
    """Up to the first full stop outside parentheses that ends a sentence (followed by a space or the end)."""
    for i in _outside_parentheses(text):
        if text[i] == "." and (i + 1 == len(text) or text[i + 1] == " "):
            return text[:i]
    return text.rstrip(":,;")


def format_config_list() -> str:
    configs = shipped_configs()
    if not configs:
        return "this installation ships no configs"
    width = max(map(len, configs))
    lines = [f"{name:<{width}}  {summary(path)}".rstrip() for name, path in configs.items()]
    return "\n".join(lines + ["", "run one with `adaptx run NAME`; copy one to edit with `adaptx config cp NAME PATH`"])


def copy_config(name: str, dest) -> Path:
    """Copy a shipped config to `dest` (a file path, or an existing folder to put NAME.yaml in);
    an existing file is never overwritten."""
    source = config_file(name)
    target = check_path(dest, "config cp: destination")
    if target.is_dir() and not target.is_symlink():
        target = check_path(target / source.name, "config cp: destination")
    if os.path.lexists(target):  # a link too, even one leading nowhere: following it would write elsewhere
        link = f" (a symbolic link to {os.readlink(target)})" if target.is_symlink() else ""
        raise AdaptxError(f"{target} already exists{link}; give another path, or delete it first")
    if not target.parent.is_dir():
        raise AdaptxError(f"folder {target.parent} does not exist; create it first, or give another path")
    if target.suffix not in SUFFIXES:
        raise AdaptxError(f"{target}: give the copy a .yaml name, so that `adaptx run` reads it as a path")
    write_new_file(target, source.read_bytes())  # never follows a link, never replaces a file made meanwhile
    return target


def pack_folder(text: str) -> Path:
    """The folder of a built-in data pack named `builtin:NAME` (unchecked: `adaptx data verify` checks it)."""
    from .packs import PACKS_DIR, PREFIX, builtin_packs

    name = str(text)[len(PREFIX):]
    if name not in builtin_packs():
        raise AdaptxError(f"{text!r}: adaptx has no built-in data pack {name!r}; built-in packs: "
                          f"{', '.join(PREFIX + p for p in builtin_packs()) or 'none'}")
    return PACKS_DIR / name
