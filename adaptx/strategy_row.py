"""One row of the strategies table: the rules of one strategy, which every module asks.

Its own module, below both the table (adaptx.strategies) and the compositions that bring rows of
their own (adaptx.compositions), so that neither imports the other to spell a row.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    # average_adapter), "ties" or "dare" (adaptx.compositions.merges); None: no merge. The zoo asks it:
    # merged adapters must share one configuration
    merge_method: str | None = None
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
