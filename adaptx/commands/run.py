"""`adaptx run CONFIG`: run (or resume) an experiment config."""

from __future__ import annotations

from .arguments import LOCAL_DATA, add_data_dir, add_device, add_overrides, overrides_with_device

TAKES_OVERRIDES = True


def add_parser(subparsers):
    run = subparsers.add_parser("run", help="run an experiment config (intermediate adapters -> target task -> "
                                            "zero-shot eval)")
    run.add_argument("config", help="a shipped config by name (`adaptx config list`: quickstart, xtreme/xnli, ...) "
                                    "or an experiment YAML file, e.g. my-experiment.yaml")
    add_data_dir(run, f"{LOCAL_DATA} (default: the config's data.dir)")
    run.add_argument("--out", help="run folder (default: the config's output_dir)")
    add_device(run, note=" (default: the config's device, auto)")
    add_overrides(run, "dotted config overrides, e.g. train.target_steps=50")
    run.add_argument("--smoke", action="store_true", help="the same run shrunk to about a minute on a CPU (every "
                                                          "stage, 2 steps, a few rows, 2 languages) into "
                                                          "<output_dir>-smoke: checks it runs; numbers mean nothing")
    run.add_argument("--tensorboard", action="store_true", help="also write training curves to <run>/tensorboard "
                                                                "(needs pip install tensorboard)")
    return run


def main(args) -> int:
    from ..progress import require_tensorboard
    from ..run_open import load_run_config, open_run
    from ..shipped import resolve_config

    if args.tensorboard:
        require_tensorboard()  # before the model loads: a missing package is a one-second answer
    # the config, the run folder and the data folder are checked before torch and the model load (about a
    # second), then the run goes on from there (pipeline.run_experiment's steps, each done once)
    config = resolve_config(args.config)
    cfg = load_run_config(config, overrides_with_device(args), args.smoke)
    run_dir, data_dir = open_run(cfg, args.data_dir, args.out)
    from ..pipeline import run_opened  # torch, transformers: seconds

    run_opened(cfg, run_dir, data_dir, f"adaptx run {config}", tensorboard=args.tensorboard)
    return 0
