"""The weight-space merges: `merge`, `task_arithmetic`, `ties` and `dare` (docs/merging.md).

Each makes one new adapter from the frozen ones, whose sources are then deleted, so only the merged
adapter runs (one adapter's inference cost) under a new target adapter and head. `merge` and
`task_arithmetic`: every weight is scale * sum_i w_i * weight_i (adapters' `average_adapter`, weights
as given, not normalised: LoraHub-style weights may be negative or not sum to 1). `ties` and `dare`:
the library creates the merged adapter (and refuses adapters of different configurations),
adaptx.compositions.ties_dare computes its weights. The merged adapter is saved with the stage and
loaded from there, so a stage predicts with the exact adapter it was trained on.
"""

from __future__ import annotations

from ..adapter_files import load_adapter, save_adapter
from ..errors import AdaptxError
from ..strategy_row import Strategy
from .base import Composition, register
from .combine_settings import WEIGHTED

DENSITY_DEFAULTS = {"ties": 0.2, "dare": 0.5}  # combine.density: null (TIES' k = 20%; DARE drops half)
_ANY_ADAPTER = ".adapters.<merged>."  # an adapter's parameter names with its own name taken out


class LinearMerge(Composition):
    """`merge` and `task_arithmetic`: the library's linear merge is the whole merge."""

    adapter_slots = ("merge",)
    optional_slots = ("merge", "combine_weights", "merge_settings")
    unset_weight: float | None = None  # each adapter's weight when combine.weights is null (None: 1/n)

    def __init__(self, row: Strategy):
        self.row = row

    def setup_fields(self, stage, cfg, names: list[str]) -> dict:
        return dict(own_adapter=cfg.combine.own_adapter(stage.task), frozen_adapters=names, merge=names,
                    combine_weights=cfg.combine.weights_for(stage.intermediates, self.unset_weight),
                    merge_settings=self.merge_settings(cfg.combine, stage.seed))

    def merge_settings(self, combine, seed: int) -> dict:
        """The resolved settings the merge reads (none for `merge`), as the stage's setup records them."""
        return {"scale": combine.scale} if "combine.scale" in self.row.settings else {}

    def library_weights(self, setup, scale: float) -> list[float]:
        """The weights adapters' `average_adapter` merges with."""
        return [scale * w for w in setup.combine_weights]

    def prepare(self, encoder, setup) -> None:
        if len(setup.combine_weights) != len(setup.merge):
            raise AdaptxError(f"merge: {len(setup.combine_weights)} weights for {len(setup.merge)} adapters")
        scale, name = float(setup.merge_settings.get("scale", 1.0)), merged_adapter_name(setup)
        try:
            encoder.average_adapter(name, list(setup.merge), weights=self.library_weights(setup, scale),
                                    normalize_weights=False)
        except ValueError as exc:  # e.g. adapters of different configurations (reduction factors)
            raise AdaptxError(f"cannot merge adapters {', '.join(setup.merge)}: {exc}") from exc
        self.overwrite(encoder, setup, name, scale)
        for source in setup.merge:
            encoder.delete_adapter(source)

    def overwrite(self, encoder, setup, name: str, scale: float) -> None:
        """Set the merged adapter's weights where the library's linear merge is not the merge."""

    def block(self, setup):
        return merged_adapter_name(setup)

    def save(self, model, out_dir) -> None:
        setup = model.setup  # an ordinary adapter folder: stack it, fuse it or publish it like any other
        save_adapter(model.encoder, out_dir, merged_adapter_name(setup), setup.base_fingerprint, setup.adapter_config,
                     merged_from={"strategy": setup.strategy, "adapters": setup.merge,
                                  "weights": setup.combine_weights, "settings": setup.merge_settings})

    def load(self, model, out_dir, remedy: str) -> None:
        merged = out_dir / f"adapter-{merged_adapter_name(model.setup)}"
        if merged.is_dir():  # the saved merge (stages saved before it was saved: rebuilt by prepare)
            load_adapter(model.encoder, merged, merged_adapter_name(model.setup))


class ComputedMerge(LinearMerge):
    """A merge whose weights adaptx computes from the sources' (TIES, DARE): the library's merge only
    creates the adapter, of the sources' configuration."""

    def library_weights(self, setup, scale: float) -> list[float]:
        return [1.0 / len(setup.merge)] * len(setup.merge)  # placeholders: overwrite sets every weight

    def merged_state(self, states: list[dict], setup, scale: float) -> dict:
        """The merged adapter's parameters from the sources' (named without the adapter's name)."""
        raise NotImplementedError

    def overwrite(self, encoder, setup, name: str, scale: float) -> None:
        import torch

        merged = self.merged_state([_adapter_state(encoder, source) for source in setup.merge], setup, scale)
        params = dict(encoder.named_parameters())
        with torch.no_grad():
            for key, value in merged.items():
                params[key.replace(_ANY_ADAPTER, f".adapters.{name}.")].copy_(value)


class TiesMerge(ComputedMerge):
    """TIES: trimmed, sign-elected, disjoint mean (adaptx.compositions.ties_dare.ties)."""

    unset_weight = 1.0  # its disjoint mean averages

    def merge_settings(self, combine, seed: int) -> dict:
        return {**super().merge_settings(combine, seed), "density": _density(combine, "ties"),
                "sign_method": combine.sign_method}

    def merged_state(self, states: list[dict], setup, scale: float) -> dict:
        from .ties_dare import ties

        s = setup.merge_settings
        return ties(states, setup.combine_weights, s["density"], s["sign_method"], scale)


class DareMerge(ComputedMerge):
    """DARE: random drops rescaled, then the weighted sum (adaptx.compositions.ties_dare.dare); its masks
    are seeded with the stage's seed."""

    def merge_settings(self, combine, seed: int) -> dict:
        return {**super().merge_settings(combine, seed), "density": _density(combine, "dare"), "seed": seed}

    def merged_state(self, states: list[dict], setup, scale: float) -> dict:
        from .ties_dare import dare

        s = setup.merge_settings
        return dare(states, setup.combine_weights, s["density"], s["seed"], scale)


def _density(combine, method: str) -> float:
    return float(combine.density) if combine.density is not None else DENSITY_DEFAULTS[method]


def merged_adapter_name(setup) -> str:
    return "+".join(setup.merge)


def _adapter_state(encoder, name: str) -> dict:
    """One adapter's parameters, named without the adapter's name (so two adapters' names match)."""
    marker = f".adapters.{name}."
    return {n.replace(marker, _ANY_ADAPTER): p.detach() for n, p in encoder.named_parameters() if marker in n}


register(LinearMerge(Strategy("merge", "adapter", 2, "adapter", ("none",), 4, merge_method="linear",
                              settings=WEIGHTED)))
# weight-space merges into one adapter (docs/merging.md): one adapter's inference cost
register(LinearMerge(Strategy("task_arithmetic", "adapter", 2, "adapter", ("none",), 5, "target",
                              merge_method="linear", settings=(*WEIGHTED, "combine.scale"))))
register(TiesMerge(Strategy("ties", "adapter", 2, "adapter", ("none",), 6, "target", merge_method="ties",
                            settings=(*WEIGHTED, "combine.scale", "combine.density", "combine.sign_method"))))
register(DareMerge(Strategy("dare", "adapter", 2, "adapter", ("none",), 7, "target", merge_method="dare",
                            settings=(*WEIGHTED, "combine.scale", "combine.density"))))
