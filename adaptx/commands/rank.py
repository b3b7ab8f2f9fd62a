"""`adaptx rank CONFIG`: score candidate intermediate adapters for the config's targets before training
on them (adaptx.rank): check the grid folders, rank, write, and score against the grid."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import AdaptxError
from ..run_folder import RunFolder
from .arguments import AS_FOR_RUN, add_data_dir, add_device, add_overrides

TAKES_OVERRIDES = True


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def add_parser(subparsers):
    rank = subparsers.add_parser("rank", help="score candidate intermediate adapters for the config's target(s) "
                                              "before training on them (LogME, TextEmb; docs/rank.md)")
    rank.add_argument("config", help="a shipped config by name (e.g. xtreme/xnli) or an experiment YAML: its "
                                     "target_task(s), base model and data")
    rank.add_argument("--candidates", nargs="+", metavar="CAND",
                      help="zoo:NAME entries or task names (default: the config's intermediate_tasks); 'all': every "
                           "intermediate entry of the zoo trained on this base")
    rank.add_argument("--out", help="output folder (default: the run folder's rank/)")
    rank.add_argument("--run", help="the run folder whose trained intermediate adapters task-name candidates use "
                                    "(default: the config's output_dir)")
    add_data_dir(rank, AS_FOR_RUN)
    add_device(rank)
    rank.add_argument("--top", type=_positive, metavar="K", help="also write topK-<target>.yaml: the K best "
                                                                  "candidates as intermediate_tasks")
    rank.add_argument("--by", choices=("logme", "textemb"), default="logme",
                      help="the estimator the table is sorted by and --top takes (default logme)")
    rank.add_argument("--max-examples", type=_positive, default=1000,
                      help="English training examples per target, and texts per candidate (default 1000)")
    rank.add_argument("--max-rows", type=_positive, default=20000,
                      help="LogME rows per target: examples, or tokens for tagging and QA (default 20000)")
    rank.add_argument("--grid", nargs="+", metavar="RUN", help="score the estimators against run folders that "
                                                               "trained the candidates under the target "
                                                               "(Regret@1/3, Spearman; scores.md)")
    add_overrides(rank)
    return rank


def main(args) -> int:
    from ..rank.ranking import Options

    # --candidates takes every word after it: key=value words are overrides (no candidate name has '=')
    words = args.candidates or []
    candidates, overrides = [w for w in words if "=" not in w] or None, [w for w in words if "=" in w]
    options = Options(max_examples=args.max_examples, max_rows=args.max_rows, by=args.by, top=args.top)
    print("\n".join(run_rank(args.config, candidates, out=args.out, run_dir=args.run, data_dir=args.data_dir,
                             device=args.device, options=options, overrides=list(args.overrides) + overrides,
                             grid=args.grid)))
    return 0


def run_rank(config, candidates=None, *, out=None, run_dir=None, data_dir=None, device=None, options=None,
             overrides=(), grid=None) -> list[str]:
    """Rank (and with `grid`, score the ranking against those run folders); returns what to print."""
    from ..shipped import resolve_config

    config = resolve_config(config)  # a name or the docs' configs/NAME.yaml, as for adaptx run
    for folder in map(Path, grid or []):  # refused before any model loads
        if not RunFolder(folder).results_file.is_file():
            raise AdaptxError(f"--grid {folder}: not a run folder with finished evaluations (no results.json); "
                              "pass the run folder(s) that trained the candidates under the target")
    from ..rank.ranking import rank  # the model code loads only here, once the command line is sound
    from ..rank.scoring import read_grids, score
    from ..rank.tables import score_lines, summary_lines, write_ranking, write_scores

    ranking = rank(config, candidates, out=out, run_dir=run_dir, data_dir=data_dir, device=device, options=options,
                   overrides=overrides)
    write_ranking(ranking)
    lines = summary_lines(ranking)
    if grid:
        messages: list[str] = []
        grids = read_grids(grid, ranking, messages)
        if not grids:
            raise AdaptxError(f"--grid: no target of {config} has stack rows of at least two of the candidates in "
                              f"{', '.join(map(str, grid))} ({'; '.join(messages) or 'no matching rows'}); the ranking "
                              f"is written to {ranking.out}")
        scores = score(ranking, grids)
        write_scores(ranking, grids, scores, messages)
        lines[-1:-1] = score_lines(ranking, grids, scores, messages)
        lines[-1] = f"adaptx: wrote {', '.join(p.name for p in ranking.files)} to {ranking.out}"
    return lines
