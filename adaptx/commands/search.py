"""`adaptx search CONFIG`: an Optuna study over the config's search: section (adaptx.search); every
worker runs the same command."""

from __future__ import annotations

import argparse

from .arguments import AS_FOR_RUN, add_data_dir, add_device, add_overrides, overrides_with_device

TAKES_OVERRIDES = True


def _seconds(text: str) -> float:
    """--timeout: a finite number of seconds > 0 (float() alone takes nan, which would mean no limit)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got {text!r}")
    return value


def _study_name(text: str) -> str:
    """--study: the zoo's entry-name rule, since the name becomes the folder search/<study>/."""
    from ..search_space import study_name_problem

    if problem := study_name_problem(text):
        raise argparse.ArgumentTypeError(problem)
    return text


def add_parser(subparsers):
    search = subparsers.add_parser("search", help="Optuna search over compositions and fusion settings (the "
                                                  "config's search: section); every worker runs the same command")
    search.add_argument("config", help="a shipped config by name (e.g. search-xnli) or a YAML file, with a "
                                       "search: section")
    add_data_dir(search, AS_FOR_RUN)
    search.add_argument("--out", help="run folder: shared stages, search.db, search/<study>/ (default: output_dir)")
    search.add_argument("--storage", help="Optuna storage: a database URL (sqlite:///f.db, "
                                          "postgresql://user:pw@host/db) or journal:PATH (a file on a shared file "
                                          "system); default: sqlite in the run folder")
    search.add_argument("--study", type=_study_name, help="study name (default: search.study, else the config's name)")
    search.add_argument("--trials", type=int, help="the study's total of finished trials, over all workers and "
                                                   "earlier runs (default: search.trials); a larger N adds trials")
    search.add_argument("--timeout", type=_seconds, help="stop this worker after S seconds (its running trial "
                                                         "finishes); a finite number > 0")
    add_device(search)
    add_overrides(search)
    return search


def main(args) -> int:
    from ..search import run_search
    from ..shipped import resolve_config

    run_search(resolve_config(args.config), data_dir=args.data_dir, out_dir=args.out, storage=args.storage,
               study_name=args.study, trials=args.trials, timeout=args.timeout, overrides=overrides_with_device(args))
    return 0
