"""How entries enter and leave a zoo folder. An entry lands (adaptx.zoo_publish's add, adaptx.zoo_hub's
pull) through a hidden folder: written there, verified there, renamed into place, then indexed; a refused
one leaves the zoo as it was, including a zoo folder the command created. remove takes it out of the
index first, then deletes it (renamed aside first). verify_zoo checks a whole zoo folder (`adaptx zoo
verify`) and can rebuild its index. user_zoo (adaptx.zoo_resolve) is the zoo these write; reading an
entry also looks in the shipped zoo (adaptx.zoo_resolve.require_entry).
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import AdaptxError
from .fingerprint import sha256_file
from .zoo_card import ALLOWED_SUFFIXES, CARD_FILE, Card
from .zoo_index import INDEX_FILE, entry_dirs, index_problems, index_record, load_index, record_problem, write_index
from .zoo_refs import NAME_RE, check_name
from .zoo_resolve import ENV_VAR, holding, shipped_zoo
from .zoo_verify import check_entry


class _ZooFolder:
    """Creates the zoo folder (and missing parents) for add/pull; if the command then fails, removes
    the folders it created while they are still empty, so a refused command leaves no trace."""

    def __init__(self, zoo: Path):
        self.zoo, self.created = zoo, []

    def __enter__(self) -> Path:
        missing = [p for p in (self.zoo, *self.zoo.parents) if not p.exists()]
        try:
            self.zoo.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where a parent folder should be, no permission
            raise AdaptxError(f"cannot create the zoo folder {self.zoo}: {exc.strerror or exc}") from exc
        self.created = missing  # innermost first
        return self.zoo

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is not None:
            for folder in self.created:
                try:
                    folder.rmdir()  # only if empty: never removes what someone else put there meanwhile
                except OSError:
                    break


@dataclass
class Landing:
    """A new entry on its way in: the hidden work folder, the folder that becomes the entry (the work folder
    itself unless the command says otherwise) and, once verified, its card."""

    work: Path
    entry: Path
    card: Card | None = None


@contextmanager
def landing(zoo: Path, name: str, work: str, taken_remedy: str) -> Iterator[Landing]:
    """The shared tail of add and pull: `name` is free in `zoo`; the caller fills a hidden folder and sets the
    verified card; the entry is then renamed into place and indexed. Any error leaves no trace in the zoo."""
    check_name(name)
    with _ZooFolder(zoo):
        index = load_index(zoo)
        if os.path.lexists(zoo / name) or name in index["entries"]:
            raise AdaptxError(f"zoo entry {name!r} already exists in {zoo}; {taken_remedy}")
        tmp = zoo / f".{work}-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        new = Landing(tmp, tmp)
        try:
            yield new
            _move_into_place(new.entry, zoo / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    write_index(zoo, {**index["entries"], name: index_record(new.card, sha256_file(zoo / name / CARD_FILE))})


def _move_into_place(tmp_entry: Path, entry: Path) -> None:
    try:
        tmp_entry.rename(entry)
    except OSError as exc:
        raise AdaptxError(f"cannot move the new entry into {entry}: {exc.strerror or exc} "
                          "(was it added at the same time by someone else?)") from exc


def remove_entry(zoo: Path, name: str) -> None:
    """Take the entry out of the index, then delete its folder (renamed aside first: a crash leaves a
    hidden folder that list and verify ignore, never half an entry)."""
    entry = zoo / check_name(name)
    index = load_index(zoo)
    if holding(zoo, name) != zoo:
        raise AdaptxError(f"zoo entry {name!r} is shipped with adaptx ({shipped_zoo()}), not in your zoo {zoo}; "
                          "shipped entries are not removed (an entry of that name in your zoo would shadow it)")
    linked = entry.is_symlink()  # a link (even a dangling one) is removed itself; its target is never touched
    if not linked and not entry.is_dir() and name not in index["entries"]:
        raise AdaptxError(f"no zoo entry {name!r} in {zoo} (entries: {', '.join(sorted(index['entries'])) or 'none'})")
    trash = zoo / f".remove-{name}-{os.getpid()}"
    if linked or entry.is_dir():
        entry.rename(trash)
    try:
        write_index(zoo, {n: r for n, r in index["entries"].items() if n != name})
    except OSError:
        if os.path.lexists(trash):
            trash.rename(entry)
        raise
    if trash.is_symlink():
        trash.unlink()
    else:
        shutil.rmtree(trash, ignore_errors=True)


def verify_zoo(zoo: Path, name: str | None = None, rebuild_index: bool = False) -> tuple[int, list[str]]:
    """(entries checked, problems). rebuild_index: write the index from every entry that passes its own
    checks (card and files), so an entry added or edited by hand is accepted explicitly, never silently."""
    zoo = holding(zoo, check_name(name)) if name and not rebuild_index else zoo
    if not zoo.is_dir():
        shipped = shipped_zoo()
        hint = f"; the zoo shipped with adaptx: `adaptx zoo verify --zoo {shipped}`" if shipped is not None else ""
        raise AdaptxError(f"zoo folder {zoo} does not exist (set --zoo or ${ENV_VAR}){hint}")
    index = load_index(zoo)
    dirs = [zoo / check_name(name)] if name else entry_dirs(zoo)
    if name and not dirs[0].is_dir():
        raise AdaptxError(f"no zoo entry {name!r} in {zoo} (entries: {', '.join(sorted(index['entries'])) or 'none'})")
    problems, rebuilt = [], {}
    for entry in dirs:
        card, found = check_entry(entry, None if rebuild_index else index)
        problems += found
        if card is not None:
            rebuilt[entry.name] = index_record(card, sha256_file(entry / CARD_FILE))
    if not name:
        if not rebuild_index:
            problems += index_problems(zoo)
            problems += [f"{zoo / INDEX_FILE}: lists {n!r}, but {zoo / n} does not exist; run `adaptx zoo verify "
                         "--rebuild-index`" for n in sorted(index["entries"]) if NAME_RE.match(n) and not (
                             zoo / n).is_dir()]
        allowed = (*ALLOWED_SUFFIXES, ".md", ".txt")  # the zoo's own README may sit beside the entries
        problems += [f"{p}: a {p.suffix} file in the zoo folder; pickles are not allowed anywhere in a zoo: delete it"
                     for p in sorted(zoo.iterdir()) if p.is_file() and p.suffix not in allowed
                     and p.name not in (".gitkeep", ".gitignore")]
    if rebuild_index:
        entries = {n: r for n, r in index["entries"].items()  # records of entries not checked now, if sound
                   if record_problem(n, r) is None and (zoo / n).is_dir() and n not in [d.name for d in dirs]}
        write_index(zoo, {**entries, **rebuilt})
    return len(dirs), problems
