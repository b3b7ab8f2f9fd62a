"""The strategies: how a stage uses what intermediate training left (the paper's comparison axis).

One table, asked by every module that needs a strategy's rules (the planner, stage recipes, the
config checks, the search space, the zoo, the results table, the model builder). The strategies
that combine no adapters have their rows here; every composition (adaptx.compositions: fuse,
average, the merges, scaled) brings its own row when it registers, and the table lists it. Two rows
are not target strategies a config can list: `intermediate` and `full-intermediate` name the
intermediate stages themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from .compositions import REGISTRY
from .errors import AdaptxError
from .strategy_row import Strategy

# the paper's adapter strategies that combine no adapters; the registered compositions follow them
_ADAPTER_ROWS = (
    Strategy("none", None, 0, "adapter", report_order=0, zoo_kind="target", without_target_training=True,
             default=True),
    Strategy("stack", "adapter", 1, "adapter", ("none",), 1, "target", without_target_training=True, default=True),
)
# full fine-tuning, then the intermediate stages
_FULL_ROWS = (
    Strategy("full", "full", 1, "full", ("full-none", "none"), 10, without_target_training=True, default=True),
    Strategy("full-none", None, 0, "full", report_order=9, default=True),
    Strategy("intermediate", None, 0, "adapter", zoo_kind="intermediate"),
    Strategy("full-intermediate", None, 0, "full"),
)


@lru_cache(maxsize=8)
def _table(compositions: tuple) -> dict[str, Strategy]:
    rows = (*_ADAPTER_ROWS, *(c.row for c in compositions), *_FULL_ROWS)
    table = {s.name: s for s in rows}
    if len(table) < len(rows):
        clash = next(c.name for c in compositions if c.name in {s.name for s in (*_ADAPTER_ROWS, *_FULL_ROWS)})
        raise ValueError(f"composition {clash!r} is named like a strategy of adaptx.strategies")
    return table


def _rows() -> dict[str, Strategy]:
    """name -> row: this module's rows and every composition registered now."""
    return _table(tuple(REGISTRY.values()))


class _Table(Mapping):
    """STRATEGIES: read from the registry on every use, not once at import, so that a composition
    registered after a module imported the table (a plugin, a test) is in it there too."""

    def __getitem__(self, name: str) -> Strategy:
        return _rows()[name]

    def __iter__(self):
        return iter(_rows())

    def __len__(self) -> int:
        return len(_rows())

    def __repr__(self) -> str:
        return repr(_rows())


class _Names(Sequence):
    """A tuple of names derived from the table, derived again on every use (as _Table)."""

    def __init__(self, derive):
        self._derive = derive

    def __getitem__(self, index):
        return self._derive(_rows())[index]

    def __len__(self) -> int:
        return len(self._derive(_rows()))

    def __iter__(self):
        return iter(self._derive(_rows()))

    def __contains__(self, name) -> bool:
        return name in self._derive(_rows())

    def index(self, name, *bounds) -> int:
        return self._derive(_rows()).index(name, *bounds)

    def __repr__(self) -> str:
        return repr(self._derive(_rows()))


def _target_names(rows: dict[str, Strategy]) -> tuple[str, ...]:
    """What a config may list, as configs and messages name them: the defaults (the paper's: adapter
    strategies, then full fine-tuning), then the others."""
    targets = [s for s in rows.values() if s.report_order is not None]
    return tuple(s.name for s in sorted(targets, key=lambda s: not s.default))


STRATEGIES: Mapping[str, Strategy] = _Table()
TARGET_STRATEGIES = _Names(_target_names)  # what a config may list
DEFAULT_STRATEGIES = _Names(lambda rows: tuple(s.name for s in rows.values() if s.default))
COMPOSITIONS = _Names(lambda rows: tuple(s.name for s in rows.values() if s.composition))
REPORT_ORDER = _Names(lambda rows: tuple(sorted(_target_names(rows), key=lambda name: rows[name].report_order)))


def get_strategy(name: str) -> Strategy:
    try:
        return _rows()[name]
    except KeyError:
        raise AdaptxError(f"unknown strategy {name!r}; allowed: {', '.join(TARGET_STRATEGIES)}") from None


def builds_on(strategies, what: str) -> bool:
    """Whether any of these strategies needs intermediate stages of this kind ("adapter" or "full")."""
    return any(get_strategy(s).builds_on == what for s in strategies)


def row_order(key: tuple) -> tuple:
    """A (strategy, intermediate) row's place in a results table: the strategies' report order."""
    return (REPORT_ORDER.index(key[0]) if key[0] in REPORT_ORDER else len(REPORT_ORDER), key[0], key[1] or "")


def row_name(key: tuple) -> str:
    """A row's name in a table: 'none', 'stack (qqp)'."""
    return key[0] if not key[1] else f"{key[0]} ({key[1]})"
