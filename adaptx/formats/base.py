"""The registry of data formats: how a file on disk, and the rows of a hub split, become a task's examples.

A format has a name (what a task's `LocalFile.format` and `HubSplit.format` say), a local reader
and a hub reader (either may be missing: CCG has no hub source; classification hub rows are read
by their columns, whatever the file format). Each format module registers its formats here
(`register_format`) when it is imported; the package `adaptx.formats` imports every format
module. data.py asks the registry for a reader and never looks at a format's name itself, so a
new file format is one registered `DataFormat` (and the task rows that name it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import AdaptxError


@dataclass
class Read:
    """What a reader made of a file or a hub split."""

    examples: list  # the kind's examples (Example, TaggedSentence, QAExample, MultipleChoiceExample, ...)
    context: dict = field(default_factory=dict)  # what all examples share (BUCC: the English sentences)
    skipped: dict = field(default_factory=dict)  # rows left out on purpose -> count (the stage summary says so)


# local(task, spec: LocalFile, path, extra: the spec's further files, checked to exist) -> Read
LocalReader = Callable[..., Read]
# hub(task, spec: HubSplit, rows: the loaded datasets.Dataset, lang, where: the split in words) -> Read
HubReader = Callable[..., Read]


@dataclass(frozen=True)
class DataFormat:
    name: str
    local: LocalReader | None = None
    hub: HubReader | None = None


FORMATS: dict[str, DataFormat] = {}  # name -> format, in registration (import) order


def register_format(fmt: DataFormat) -> DataFormat:
    """Add a format to FORMATS. Refuses one without a name or a reader, and a second format of the
    same name, so two modules can never silently shadow each other."""
    if not isinstance(fmt, DataFormat):
        raise TypeError(f"register_format: {fmt!r} is not a DataFormat")
    if not isinstance(fmt.name, str) or not fmt.name:
        raise ValueError(f"register_format: a format needs a name (got {fmt.name!r})")
    if fmt.local is None and fmt.hub is None:
        raise ValueError(f"register_format: format {fmt.name!r} has neither a local nor a hub reader")
    if fmt.name in FORMATS:
        raise ValueError(f"register_format: a format named {fmt.name!r} is already registered")
    FORMATS[fmt.name] = fmt
    return fmt


def local_reader(task, spec) -> LocalReader:
    """The reader of a task's local file (a LocalFile)."""
    fmt = FORMATS.get(spec.format)
    if fmt is None or fmt.local is None:
        raise AdaptxError(f"task {task.name!r}: unknown local file format {spec.format!r}")
    return fmt.local


def hub_reader(task, spec) -> HubReader:
    """The reader of a task's hub split (a HubSplit)."""
    fmt = FORMATS.get(spec.format)
    if fmt is None or fmt.hub is None:
        raise AdaptxError(f"task {task.name!r}: unknown hub format {spec.format!r} "
                          f"(registered: {', '.join(n for n, f in FORMATS.items() if f.hub)})")
    return fmt.hub
