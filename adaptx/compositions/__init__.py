"""Compositions: one module per family owns its strategies' rows, setup, settings and model mechanics.

A composition combines two or more frozen intermediate adapters on the frozen base under a new
head (and, optionally, a new target adapter). The families: fusion (`fuse`, an AdapterFusion layer),
average (the adapters' outputs weighted), merges (`merge`, `task_arithmetic`, `ties`, `dare`: one
adapter merged in weight space; their maths in ties_dare.py) and scaled (ScaLearn-style learned
scales; their mechanics in scalearn.py). combine_settings.py is the `combine:` config section that
average, the merges and scaled read. Each family registers itself in base.py (`register`);
adaptx.strategies lists the registered rows, adaptx.stage_recipe asks a composition for a stage's
setup and adaptx.modeling calls its hooks (base.Composition) to build, save and load a model.
"""

from __future__ import annotations

# Importing a family module registers its compositions (base.register). The order here is the order
# of REGISTRY, and so of the strategies table (adaptx.strategies).
from . import fusion, average, merges, scaled  # noqa: F401 - registers the compositions
from .base import REGISTRY, Composition, composition_for, optional_slots, register

__all__ = ["Composition", "REGISTRY", "composition_for", "optional_slots", "register"]
