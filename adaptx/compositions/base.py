"""What a composition provides, and the registry of compositions.

A composition is a target strategy that combines two or more frozen intermediate adapters on the
frozen base (fuse, average, the merges, scaled). It owns every part of that: its row of the
strategies table, the Setup fields it fills (adaptx.stage_recipe asks `setup_fields`), and its
model mechanics (adaptx.modeling calls the hooks below while it builds, saves and loads a model).
Each family module registers its compositions here (`@register`) when it is imported; the package
`adaptx.compositions` imports every family, and adaptx.strategies reads the registry, so a new
composition is one new module (or a `register` call, as tests/test_compositions.py does).

Nothing here, nor at the top of a family module, imports torch or `adapters`: the config and the
strategies table read these modules, and must load without them. Hooks import what they use.
"""

from __future__ import annotations

from ..strategy_row import Strategy


class Composition:
    """The interface; each hook's contract is what adaptx.stage_recipe and adaptx.modeling rely on.
    `setup` arguments are adaptx.modeling.Setup objects, `model` a TaskModel, `encoder` the base
    model with `adapters` initialised."""

    row: Strategy  # its row of the strategies table (adaptx.strategies lists it there)
    # Setup fields that name adapters: each stage gives them the adapters' saved names (adapter_names)
    adapter_slots: tuple[str, ...] = ()
    # Setup fields that stage hashes leave out where they are empty: fields added after stages were
    # banked, so that the hashes of every stage that does not use them stay what they were
    optional_slots: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.row.name

    # -- the stage's setup (adaptx.stage_recipe) -------------------------------------------------------

    def setup_fields(self, stage, cfg, names: list[str]) -> dict:
        """The Setup fields of a target stage that combines the frozen adapters `names` (logical
        names, in the stage's order) besides the adapter settings: at least frozen_adapters and
        own_adapter (the new target adapter on top, or None)."""
        raise NotImplementedError

    def amend_recipe(self, recipe: dict) -> None:
        """Edit a stage's setup as its hash sees it (adaptx.stage_recipe), where a fix changed what
        the same setup computes and stages trained before must not be reused."""

    # -- the model (adaptx.modeling), in the order it is built ---------------------------------------

    def prepare(self, encoder, setup) -> None:
        """After the frozen adapters are loaded, before the stage's own adapter is added."""

    def attach(self, encoder, setup) -> dict:
        """After the stage's own adapter is added, before the composition is activated: add what the
        composition trains or runs besides the adapters. Returns name -> torch module for the modules
        the model holds (and trains) beside its head; adaptx.modeling adds them under those names."""
        return {}

    def block(self, setup):
        """What runs beneath the stage's own adapter: an adapter's name or an `adapters.composition`
        block over the frozen adapters."""
        raise NotImplementedError

    def trains(self, parameter: str, setup) -> bool:
        """Whether an encoder parameter (by name) trains, besides the stage's own adapter's."""
        return False

    def save(self, model, out_dir) -> None:
        """Write what the composition trained or built beside the adapters and the head."""

    def load(self, model, out_dir, remedy: str) -> None:
        """Read back what `save` wrote into a model built from the same setup; `remedy` ends errors."""

    def metrics(self, setup, model) -> dict:
        """What a trained stage's metrics.json records of the composition."""
        return {"combine": {"adapters": setup.frozen_adapters, "weights": setup.combine_weights,
                            "target_adapter": setup.own_adapter is not None}}


REGISTRY: dict[str, Composition] = {}  # strategy name -> its composition, in registration (import) order


def register(composition):
    """Add a composition to REGISTRY: a Composition instance, or a Composition subclass (as a class
    decorator, which registers one instance and returns the class). Refuses a composition without a
    row and a second one of the same name, so two modules can never silently shadow each other
    (adaptx.strategies refuses one named like a strategy of its own)."""
    instance = composition() if isinstance(composition, type) else composition
    if not isinstance(instance, Composition):
        raise TypeError(f"register: {composition!r} is not a Composition")
    if not isinstance(getattr(instance, "row", None), Strategy):
        raise ValueError(f"register: {type(instance).__name__} needs a row (a Strategy)")
    if instance.name in REGISTRY:
        raise ValueError(f"register: a composition named {instance.name!r} is already registered "
                         f"({type(REGISTRY[instance.name]).__name__})")
    REGISTRY[instance.name] = instance
    return composition


def optional_slots() -> tuple[str, ...]:
    """Every registered composition's optional Setup fields (Composition.optional_slots): a stage hash
    leaves each out where it is empty, whatever the stage's strategy."""
    return tuple(dict.fromkeys(slot for c in REGISTRY.values() for slot in c.optional_slots))


def composition_for(strategy: str) -> Composition | None:
    """The composition of a strategy; None for the strategies that combine no adapters (none, stack,
    the full ones, the intermediate stages), whose model is the frozen adapter (if any) under its own."""
    return REGISTRY.get(strategy)
