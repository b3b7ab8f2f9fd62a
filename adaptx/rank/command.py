"""The `adaptx rank` command: check the grid folders, rank, write, and score against the grid."""

from __future__ import annotations

from pathlib import Path

from ..errors import AdaptxError
from ..run_folder import RunFolder
from .ranking import Options, rank
from .scoring import read_grids, score
from .tables import score_lines, summary_lines, write_ranking, write_scores


def run_rank(config, candidates=None, *, out=None, run_dir=None, data_dir=None, device=None, options=None,
             overrides=(), grid=None) -> list[str]:
    """Rank (and with `grid`, score the ranking against those run folders); returns what to print."""
    for folder in map(Path, grid or []):  # refused before any model loads
        if not RunFolder(folder).results_file.is_file():
            raise AdaptxError(f"--grid {folder}: not a run folder with finished evaluations (no results.json); "
                              "pass the run folder(s) that trained the candidates under the target")
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
