"""The one YAML parser of adaptx: PyYAML's SafeLoader, hardened against hostile and mistaken files.

Refused while the file is read, before any Python object is built:
- aliases beyond a small budget, and documents that hold more than MAX_VALUES values once every
  alias is expanded (a ~400-byte "billion laughs" document expands to 9**9 strings: PyYAML
  itself shares the aliased objects, but every later walk over the config (validation, asdict,
  hashing, error messages) would expand them);
- an alias used inside its own anchor (a recursive structure no config needs), and lists or
  mappings nested more than MAX_DEPTH deep (PyYAML would overflow Python's stack);
- a key given twice in one mapping (YAML would silently keep the second: a second `train:` block
  replaced the first). Keys brought in by a merge (`<<: *base`) may still be overridden.

`safe_load` is a drop-in for yaml.safe_load (its refusals are yaml.YAMLError); `load_yaml` raises
the AdaptxError a user sees, naming the file and line. `shown` is the repr for error messages:
a value read from a file is never printed whole.
"""

from __future__ import annotations

import reprlib
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .errors import AdaptxError

MAX_ALIASES = 100  # per document: anchors and merges are fine in small numbers
MAX_VALUES = 100_000  # per document, counting each alias's values again; a config holds a few hundred
MAX_DEPTH = 64  # lists and mappings inside each other; PyYAML's composer recurses (~500 levels overflow it)
MERGE_TAG = "tag:yaml.org,2002:merge"

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxtuple, _repr.maxset = 3, 8, 8, 8, 8
_repr.maxstring, _repr.maxother = 80, 80


def shown(value: Any) -> str:
    """repr(value) cut to a few lines' worth (reprlib): what error messages print of a user's value."""
    return _repr.repr(value)


class UnsafeYAML(yaml.MarkedYAMLError):
    """A document StrictLoader refuses; `problem` says why, `problem_mark` where."""

    def __init__(self, problem: str, mark):
        super().__init__(problem=problem, problem_mark=mark)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with an alias budget, an expanded-size budget and no duplicate keys."""

    def compose_document(self):
        self._aliases, self._depth = 0, 0
        self._sizes: dict[int, int] = {}  # id(node) -> its values with aliases expanded (done nodes only)
        return super().compose_document()

    def compose_node(self, parent, index):
        if self.check_event(AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise UnsafeYAML(f"more than {MAX_ALIASES} aliases (*{event.anchor} is one too many); a config "
                                 "needs at most a few anchors: write the values out", event.start_mark)
            if id(node) not in self._sizes:  # its anchor's node is still being composed
                raise UnsafeYAML(f"alias *{event.anchor} is used inside its own anchor &{event.anchor}: a "
                                 "recursive structure, which no config setting can hold", event.start_mark)
            return node
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise UnsafeYAML(f"lists or mappings nested more than {MAX_DEPTH} deep (no config setting nests so deep)",
                                 self.peek_event().start_mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._count(node)
        return node

    def _count(self, node) -> None:
        """The node's size with aliases expanded, from its children's (each composed, so counted, first)."""
        if isinstance(node, ScalarNode):
            size = 1
        elif isinstance(node, SequenceNode):
            size = 1 + sum(self._sizes[id(child)] for child in node.value)
        else:
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        if size > MAX_VALUES:
            raise UnsafeYAML(f"this value holds more than {MAX_VALUES} values once its aliases are expanded (aliases "
                             "nested inside aliases, as in a 'billion laughs' document); a config needs far "
                             "fewer: write the values out", node.start_mark)
        self._sizes[id(node)] = size

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        _refuse_duplicate_keys(node)
        return node


def _refuse_duplicate_keys(node: MappingNode) -> None:
    """Checked on the composed node, before merges are flattened into it (a merged key may be overridden)."""
    first: dict[tuple[str, str], Any] = {}
    for key, _ in node.value:
        if not isinstance(key, ScalarNode) or key.tag == MERGE_TAG:
            continue
        seen = first.get((key.tag, key.value))
        if seen is None:
            first[(key.tag, key.value)] = key.start_mark
        else:
            raise UnsafeYAML(f"key {shown(key.value)} is given twice in one mapping (first on line {seen.line + 1}); "
                             "YAML would silently keep only the second: keep one (merged, if both are meant)",
                             key.start_mark)


def safe_load(text: str) -> Any:
    """yaml.safe_load with StrictLoader's refusals (raised as yaml.YAMLError)."""
    return yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader: plain data only


def load_yaml(text: str, where: str) -> Any:
    """The document in `text` (read from `where`: a file name, or e.g. an override), or an AdaptxError
    that names `where` and the line."""
    try:
        return safe_load(text)
    except UnsafeYAML as exc:
        raise AdaptxError(f"{where}: line {exc.problem_mark.line + 1}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise AdaptxError(f"{where}: not valid YAML: {exc}") from None
    except RecursionError:  # a scanner or parser path MAX_DEPTH does not cover
        raise AdaptxError(f"{where}: nested too deeply to read (lists or mappings inside each other)") from None
