"""The strategies: how a stage uses what intermediate training left (the paper's comparison axis).

One table, asked by every module that needs a strategy's rules (the planner, stage recipes, the
config checks, the search space, the zoo, the results table, the model builder), so that adding
a strategy means adding one row here. Two rows are not target strategies a config can list:
`intermediate` and `full-intermediate` name the intermediate stages themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AdaptxError


@dataclass(frozen=True)
class Strategy:
    name: str
    # which intermediate stage it builds on: "adapter" (trained adapters, frozen), "full" (the fully
    # fine-tuned encoder), or None (nothing from intermediate training)
    builds_on: str | None
    # how many intermediate results it uses: 0; 1 (one stage per intermediate task); 2 (at least two,
    # combined in one stage)
    combines: int
    lr_kind: str  # which learning rate trains it: adapter | fusion | full
    # the rows its results are compared with, first present one (retrieval has no full-none row)
    baselines: tuple[str, ...] = ()
    report_order: int | None = None  # position in results tables (None: not a target strategy)
    zoo_kind: str | None = None  # what a published stage of it is (None: cannot be published)
    # applies to a target whose kind does not train (retrieval, evaluated from the encoder)
    without_target_training: bool = False
    default: bool = False  # run by a config that lists no strategies
    # a weight-space merge of the adapters it combines into one adapter: "linear" (adapters'
    # average_adapter), "ties" or "dare" (adaptx.merging); None: no merge
    merge_method: str | None = None
    # learns one scale per combined adapter (and layer) over their outputs (adaptx.scaled)
    learns_scales: bool = False
    # the combine.* settings it reads (what a search varies for it; the others do not apply to it)
    settings: tuple[str, ...] = ()

    @property
    def full_model(self) -> bool:
        """Fine-tunes the whole encoder (no adapters anywhere in its model)."""
        return self.lr_kind == "full"

    @property
    def fusion(self) -> bool:
        """Trains an AdapterFusion layer over the adapters it combines."""
        return self.lr_kind == "fusion"

    @property
    def standalone(self) -> bool:
        """Its adapter was trained directly on the base, so it can be stacked or fused elsewhere."""
        return self.name in ("intermediate", "none")

    @property
    def composition(self) -> bool:
        """Composes frozen adapters on the frozen base (what `adaptx search` chooses among)."""
        return self.report_order is not None and not self.full_model


_WEIGHTED = ("combine.weights", "combine.train_target_adapter")
_ROWS = (
    Strategy("none", None, 0, "adapter", report_order=0, zoo_kind="target", without_target_training=True,
             default=True),
    Strategy("stack", "adapter", 1, "adapter", ("none",), 1, "target", without_target_training=True, default=True),
    Strategy("fuse", "adapter", 2, "fusion", ("none",), 2, "fusion", default=True),
    Strategy("full", "full", 1, "full", ("full-none", "none"), 10, without_target_training=True, default=True),
    Strategy("full-none", None, 0, "full", report_order=9, default=True),
    Strategy("average", "adapter", 2, "adapter", ("none",), 3, settings=_WEIGHTED),
    Strategy("merge", "adapter", 2, "adapter", ("none",), 4, merge_method="linear", settings=_WEIGHTED),
    # weight-space merges into one adapter (docs/merging.md): one adapter's inference cost
    Strategy("task_arithmetic", "adapter", 2, "adapter", ("none",), 5, "target", merge_method="linear",
             settings=(*_WEIGHTED, "combine.scale")),
    Strategy("ties", "adapter", 2, "adapter", ("none",), 6, "target", merge_method="ties",
             settings=(*_WEIGHTED, "combine.scale", "combine.density", "combine.sign_method")),
    Strategy("dare", "adapter", 2, "adapter", ("none",), 7, "target", merge_method="dare",
             settings=(*_WEIGHTED, "combine.scale", "combine.density")),
    # ScaLearn-style: a learned scale per source adapter and layer over their outputs
    Strategy("scaled", "adapter", 2, "adapter", ("none",), 8, "target", learns_scales=True,
             settings=("combine.scale_per_layer", "combine.train_target_adapter")),
    # the intermediate stages
    Strategy("intermediate", None, 0, "adapter", zoo_kind="intermediate"),
    Strategy("full-intermediate", None, 0, "full"),
)
STRATEGIES: dict[str, Strategy] = {s.name: s for s in _ROWS}
TARGET_STRATEGIES = tuple(s.name for s in _ROWS if s.report_order is not None)  # what a config may list
DEFAULT_STRATEGIES = tuple(s.name for s in _ROWS if s.default)
COMPOSITIONS = tuple(s.name for s in _ROWS if s.composition)
REPORT_ORDER = tuple(sorted(TARGET_STRATEGIES, key=lambda name: STRATEGIES[name].report_order))


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise AdaptxError(f"unknown strategy {name!r}; allowed: {', '.join(TARGET_STRATEGIES)}") from None


def builds_on(strategies, what: str) -> bool:
    """Whether any of these strategies needs intermediate stages of this kind ("adapter" or "full")."""
    return any(get_strategy(s).builds_on == what for s in strategies)
