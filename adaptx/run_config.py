"""The config a run uses: its file (a path, or a config shipped with adaptx: adaptx.shipped) with the
command line's overrides, shrunk first for a smoke run (adaptx.smoke, imported only then)."""

from __future__ import annotations

from .config import ExperimentConfig, load_config
from .shipped import resolve_config


def load_run_config(config_path, overrides=None, smoke: bool = False) -> ExperimentConfig:
    """The config a run uses: the file with the overrides, shrunk first when `smoke` (the user's own
    overrides still go last, so they win). `config_path` is what `adaptx run` takes: a YAML path, a
    shipped config's name, or the docs' configs/NAME.yaml from any folder; None: the defaults."""
    if config_path is not None:
        config_path = resolve_config(config_path)
    cfg = load_config(config_path, overrides)
    if not smoke:
        return cfg
    from .smoke import smoke_overrides

    return load_config(config_path, smoke_overrides(cfg) + list(overrides or []))
