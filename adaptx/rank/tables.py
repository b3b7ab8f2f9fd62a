"""What `adaptx rank` writes: rank.md (a table per target), rank.csv (one row per target x candidate),
rank.json (everything, for `--grid` scoring and scripts) and, with --top K, a config fragment
top<K>-<target>.yaml per target whose intermediate_tasks `adaptx run` and `adaptx search` take."""

from __future__ import annotations

import csv
import io

import yaml

from ..fileio import atomic_write_text
from .ranking import ESTIMATORS, Ranking, TargetRanking, ordered, to_json, top_candidates

LABELS = {"logme": "LogME", "textemb": "TextEmb", "always_mnli": "always MNLI", "random": "random"}
CSV_FIELDS = ("target", "candidate", "task", "logme", "logme_rank", "logme_seconds", "textemb", "textemb_rank",
              "textemb_seconds", "always_mnli", "random", "note")


def write_ranking(ranking: Ranking) -> None:
    out = ranking.out
    out.mkdir(parents=True, exist_ok=True)
    files = {"rank.md": markdown(ranking), "rank.csv": csv_text(ranking), "rank.json": to_json(ranking) + "\n"}
    if ranking.options.top:
        for target in ranking.targets:
            files[fragment_name(ranking, target)] = fragment(ranking, target)
    for name, text in files.items():
        atomic_write_text(out / name, text)
        ranking.files.append(out / name)


def fragment_name(ranking: Ranking, target: TargetRanking) -> str:
    return f"top{ranking.options.top}-{target.target}.yaml"


def fragment(ranking: Ranking, target: TargetRanking) -> str:
    chosen = top_candidates(target, ranking.options.by, ranking.options.top)
    head = (f"# adaptx rank: the top {len(chosen)} candidates for {target.target} by {LABELS[ranking.options.by]} "
            f"(of {len(target.rows)}; rank.md says how each scored).\n# Use it as the candidate pool: adaptx run "
            f"{ranking.config} {override(chosen)}  (adaptx search takes the same override; a search: section\n"
            "# with its own adapters: list needs search.adapters=[...] instead)\n")
    return head + yaml.safe_dump({"intermediate_tasks": chosen}, default_flow_style=None, sort_keys=False)


def override(tokens: list[str]) -> str:
    return f"'intermediate_tasks=[{','.join(tokens)}]'"


def _number(value, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown(ranking: Ranking) -> str:
    by = ranking.options.by
    lines = [f"# adaptx rank: {ranking.config}", "",
             f"{len(ranking.candidates)} candidate adapters, scored on each target's English training sample only "
             f"(at most {ranking.options.max_examples} examples, {ranking.options.max_rows} LogME rows), never "
             f"trained on it; sorted by {LABELS[by]}. LogME: mean log evidence per row of a Bayesian linear model "
             "on the features with the candidate adapter active (higher is better; comparable within a target "
             "only). TextEmb: cosine of the candidate's and the target's mean text embeddings under the plain "
             "base (higher is more similar). always MNLI: 1 for an MNLI candidate. random: a seeded draw. "
             f"Costs in seconds on {ranking.hardware.get('device', '?')} ({ranking.hardware.get('dtype', '?')}); "
             f"the whole ranking took {ranking.seconds:.1f} s.", ""]
    for target in ranking.targets:
        lines += [f"## {target.target}", "",
                  f"{target.examples} English training examples, {target.rows_read} LogME rows ({target.reduction}). "
                  f"The base without any adapter: LogME {target.base_logme:.4f}. Shared cost (base model, target "
                  f"features, target text embedding): {target.shared_seconds:.1f} s.", "",
                  "| # | candidate | task | LogME | TextEmb | always MNLI | random | LogME s | TextEmb s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in ordered(target, by):
            cells = [f"{_number(getattr(row, e))} ({row.ranks[e]})" if getattr(row, e) is not None else "n/a"
                     for e in ESTIMATORS]
            lines.append(f"| {row.ranks[by] or '-'} | {row.candidate} | {row.task} | " + " | ".join(cells)
                         + f" | {_number(row.logme_seconds, 1)} | {_number(row.textemb_seconds, 1)} |")
        notes = target.notes + [f"{r.candidate}: {r.note}" for r in target.rows if r.note]
        lines += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
        if ranking.options.top:
            chosen = top_candidates(target, by, ranking.options.top)
            lines += [f"Top {len(chosen)} by {LABELS[by]}: `{fragment_name(ranking, target)}`; "
                      f"`adaptx run {ranking.config} {override(chosen)}`", ""]
    lines += [f"- {n}" for n in ranking.notes]
    return "\n".join(lines).rstrip() + "\n"


def csv_text(ranking: Ranking) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for target in ranking.targets:
        for row in ordered(target, ranking.options.by):
            writer.writerow({"target": row.target, "candidate": row.candidate, "task": row.task, "logme": row.logme,
                             "logme_rank": row.ranks["logme"], "logme_seconds": row.logme_seconds,
                             "textemb": row.textemb, "textemb_rank": row.ranks["textemb"],
                             "textemb_seconds": row.textemb_seconds, "always_mnli": row.always_mnli,
                             "random": row.random, "note": row.note})
    return out.getvalue()


def summary_lines(ranking: Ranking) -> list[str]:
    """What `adaptx rank` prints: per target the order by the chosen estimator, then the files."""
    by = ranking.options.by
    lines = []
    for target in ranking.targets:
        order = ", ".join(f"{r.candidate} ({_number(getattr(r, by))})" for r in ordered(target, by))
        lines.append(f"adaptx rank: {target.target} by {LABELS[by]}: {order}")
        if ranking.options.top:
            lines.append(f"  top {ranking.options.top}: adaptx run {ranking.config} "
                         f"{override(top_candidates(target, by, ranking.options.top))}")
        lines += [f"  note: {n}" for n in target.notes + [f"{r.candidate}: {r.note}" for r in target.rows if r.note]]
    lines += [f"  note: {n}" for n in ranking.notes]
    lines.append(f"adaptx: wrote {', '.join(p.name for p in ranking.files)} to {ranking.out} "
                 f"({ranking.seconds:.1f} s)")
    return lines


# -- scoring against a measured grid (adaptx.rank.scoring) -----------------------------------
SCORE_FIELDS = ("target", "strategy", "measure", "estimator", "candidates", "best", "picked", "regret1", "regret1_lo",
                "regret1_hi", "regret3", "regret3_lo", "regret3_hi", "rho", "rho_lo", "rho_hi")


def write_scores(ranking: Ranking, grids: list, scores: list, messages: list[str]) -> None:
    out = ranking.out
    for name, text in (("scores.md", scores_markdown(ranking, grids, scores, messages)),
                       ("scores.csv", scores_csv(scores))):
        atomic_write_text(out / name, text)
        ranking.files.append(out / name)


def _flat(score) -> dict:
    row = {"target": score.target, "strategy": score.strategy, "measure": score.measure, "estimator": score.estimator,
           "candidates": score.candidates, "best": score.best, "picked": score.picked}
    for k, stat in score.regret.items():
        row.update({f"regret{k}": stat.point, f"regret{k}_lo": stat.lo, f"regret{k}_hi": stat.hi})
    row.update({"rho": score.rho.point, "rho_lo": score.rho.lo, "rho_hi": score.rho.hi})
    return row


def scores_csv(scores: list) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, SCORE_FIELDS, lineterminator="\n")
    writer.writeheader()
    for s in scores:
        writer.writerow(_flat(s))
    return out.getvalue()


def _interval(stat, digits: int = 2) -> str:
    if stat.point is None:
        return "n/a"
    bounds = f" [{stat.lo:.{digits}f}, {stat.hi:.{digits}f}]" if stat.lo is not None else ""
    return f"{stat.point:.{digits}f}{bounds}"


def compute_share(ranking: Ranking, grids: list) -> str:
    grid_seconds = sum(g.seconds for g in grids if g.strategy == "stack")
    if not grid_seconds:
        return "The grid's stage manifests record no seconds: no compute share."
    return (f"Ranking took {ranking.seconds:.1f} s; the stack grid's target stages took {grid_seconds:.1f} s (training "
            f"and evaluation, from their manifests): ranking cost {100 * ranking.seconds / grid_seconds:.1f}% of the "
            "grid. Both exclude the candidates' own intermediate training, which either needs; times from "
            "different machines are not comparable.")


def scores_markdown(ranking: Ranking, grids: list, scores: list, messages: list[str]) -> str:
    from .scoring import MEASURES

    lines = ["# adaptx rank: the estimators against the measured grid", "",
             "Regret@k: best measured score minus the best among the estimator's top k, in points of the target's "
             "metric (ties broken at random: the exact expectation). rho: Spearman between the estimator's scores "
             "and the measured ones. [lo, hi]: 95% percentile intervals over the grid's bootstrap resamples (items, "
             "jointly across row-aligned languages, and seeds; the same draws for every candidate).", "",
             compute_share(ranking, grids), ""]
    for grid in grids:
        for measure, langs in grid.languages.items():
            lines += [f"## {grid.target}, {grid.strategy}, {MEASURES[measure]} ({', '.join(langs)})", "",
                      "| estimator | candidates | its pick | measured best | Regret@1 | Regret@3 | Spearman rho |",
                      "|---|---|---|---|---|---|---|"]
            for s in scores:
                if (s.target, s.strategy, s.measure) == (grid.target, grid.strategy, measure):
                    lines.append(f"| {LABELS[s.estimator]} | {s.candidates} | {s.picked} | {s.best} | "
                                 f"{_interval(s.regret[1])} | {_interval(s.regret[3])} | {_interval(s.rho)} |")
            lines.append("")
    lines += [f"- {m}" for m in messages]
    return "\n".join(lines).rstrip() + "\n"


def score_lines(ranking: Ranking, grids: list, scores: list, messages: list[str]) -> list[str]:
    lines = [f"adaptx rank: against the grid: {compute_share(ranking, grids)}"]
    for s in scores:
        if s.measure == "others" and s.strategy == "stack":
            lines.append(f"  {s.target} {LABELS[s.estimator]}: Regret@1 {_interval(s.regret[1])}, Regret@3 "
                         f"{_interval(s.regret[3])}, rho {_interval(s.rho)} (non-English average)")
    return lines + [f"  note: {m}" for m in messages]
