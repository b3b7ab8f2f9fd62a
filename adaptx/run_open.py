"""Opening a run, before torch or a model loads (so `adaptx run` answers a wrong name or path in about a
second): the config it uses (load_run_config) and the folders it reads and writes (open_run), checked
before anything is written."""

from __future__ import annotations

from pathlib import Path

from .config import ExperimentConfig, load_config
from .errors import AdaptxError
from .fileio import check_path
from .packs import NO_DATA_DIR, resolve_data_dir
from .shipped import resolve_config
from .stage_store import check_run_folder


def load_run_config(config_path, overrides=None, smoke: bool = False) -> ExperimentConfig:
    """The config a run uses: the file with the overrides, shrunk first when `smoke` (adaptx.smoke, imported
    only then; the user's own overrides still go last, so they win). `config_path` is what `adaptx run`
    takes: a YAML path, a shipped config's name, or the docs' configs/NAME.yaml from any folder
    (adaptx.shipped); None: the defaults."""
    if config_path is not None:
        config_path = resolve_config(config_path)
    cfg = load_config(config_path, overrides)
    if not smoke:
        return cfg
    from .smoke import smoke_overrides

    return load_config(config_path, smoke_overrides(cfg) + list(overrides or []))


def open_run(cfg: ExperimentConfig, data_dir=None, out_dir=None, writes: bool = True) -> tuple[Path, Path | None]:
    """(run folder, data folder) of a run or search, checked before anything is written. writes=False:
    a run folder only read (adaptx rank's --run), whose path alone is checked."""
    run_dir = check_path(out_dir or cfg.output_dir, "run folder")  # before any file system call: a NUL, a long name
    if run_dir.exists() and not run_dir.is_dir():
        raise AdaptxError(f"run folder {run_dir} is a file; pass --out with a folder path")
    if writes:
        check_run_folder(run_dir)  # a usable, writable path; no folder where a result file goes
    if cfg.smoke:
        from .smoke import check_smoke_folder  # smoke.py loads only for a smoke run
        check_smoke_folder(run_dir)  # --out may point a smoke run anywhere: never at a real run
    # builtin:NAME -> the data pack shipped with adaptx (a smoke run samples a slice of it: no fit check)
    data_dir = resolve_data_dir(data_dir or cfg.data.dir, None if cfg.smoke else cfg)
    if cfg.data.source == "local" and data_dir is None:  # every run reads its target's rows
        raise AdaptxError(NO_DATA_DIR)
    if cfg.data.source == "local" and data_dir is not None and not Path(data_dir).is_dir():
        raise AdaptxError(f"data folder {data_dir} does not exist; pass --data-dir with a data folder "
                          "(`adaptx data pull TASK... --out DIR` writes one; docs/data.md)")
    return run_dir, data_dir
