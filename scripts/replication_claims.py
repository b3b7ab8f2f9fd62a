"""The seed paper's claims (docs/replication.md), each with this tool's measurement and a verdict.

Reads what `adaptx analyze` wrote for the convergence study's runs (each folder's gains.csv and
correlations.csv; the zero-shot average without English, pooled over seeds, with its 95% paired
interval) and prints one markdown row per claim: the setting it was measured in, the numbers, and
a verdict with its reason. A claim whose rows are not there yet says "not yet measured" and which
rows it waits for; nothing is guessed.

Verdict rules (the interval is each row's 95% interval of its gain over `none`):
- an "improves" claim holds for a row whose interval lies above 0, does not hold for one whose
  interval lies at or below 0, and cannot tell otherwise (the interval spans 0);
- XNLI's "does not benefit" claim, a claim of no effect, holds when no row's interval reaches
  MARGIN points of benefit, does not hold when some row's interval lies above 0, and cannot tell
  otherwise: an interval cannot show a gain of exactly 0, only that any gain is small;
- "the best intermediate tasks" holds where the named tasks' best interval lies above every other
  row's interval, does not hold where another row's interval lies above theirs, cannot tell otherwise;
  "multi-task adds a little" likewise, the multi-task row's interval against the best single task's;
- the typology claim holds for a row whose rho (gain against syntactic distance) interval lies below
  0, does not hold for one whose interval lies above 0, cannot tell otherwise.
A claim over several rows holds when every row holds, does not hold when any row does not, and
cannot tell otherwise. Same-data rows (§) are left out of every verdict and reported apart.

    adaptx analyze studies/convergence && adaptx analyze studies/convergence-retrieval && ...
    python scripts/replication_claims.py --study studies/convergence/analysis \\
        --retrieval studies/convergence-retrieval/analysis studies/convergence-bucc/analysis \\
        --qa studies/convergence-qa/analysis
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from adaptx.analysis.gains import ZERO_SHOT_AVERAGE
from adaptx.convergence import MARK, UNDER_MARK
from adaptx.report import SAME_DATA_MARK
from adaptx.tasks import get_task

MARGIN = 1.0  # points: a benefit whose interval stays under this counts as "no benefit"
HOLDS, FAILS, UNSURE = "holds", "does not hold", "cannot tell"
MULTITASK = "multitask"
BEST_TASKS = ("mnli", "hellaswag")  # the paper's best intermediate tasks the embedded zoo has (no SQuAD)
NOT_YET = "–"


@dataclass(frozen=True)
class Row:
    """One gains.csv row of the zero-shot average: a target at a budget, one intermediate adapter."""
    target: str
    metric: str
    adapter: str  # the zoo name without "zoo:"
    gain: float
    lo: float
    hi: float
    seeds: str
    steps: str
    marks: str

    @property
    def task(self) -> str:  # the shipped zoo names its adapters <task>-<base>-s<seed>
        return self.adapter.split("-")[0]

    @property
    def same_data(self) -> bool:
        return SAME_DATA_MARK in self.marks

    def text(self) -> str:
        marks = f" {self.marks}" if self.marks else ""
        return f"{self.task}{marks} {self.gain:+.1f} [{self.lo:+.1f}, {self.hi:+.1f}]"


@dataclass(frozen=True)
class Claim:
    claim: str
    setting: str
    measurement: str
    verdict: str
    reason: str

    def markdown(self) -> str:
        verdict = self.verdict if self.verdict == NOT_YET else f"**{self.verdict}**: {self.reason}"
        return f"| {self.claim} | {self.setting} | {self.measurement} | {verdict} |"


def _read(folder: Path | None, name: str) -> list[dict]:
    path = folder / name if folder else None
    if path is None or not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def stacked_rows(folder: Path | None, task: str, metric: str | None = None, budget: str | None = "auto") -> list[Row]:
    """The stack rows of a task's zero-shot average in one metric (default: the task's main one): at a
    budget of a budget sweep (target `task @budget`), or, with budget None, of a task that trains nothing
    (Tatoeba, BUCC: target `task`). A run over one zero-shot language reads that language's row."""
    metric = metric or get_task(task).metric
    target = task if budget is None else f"{task} @{budget}"
    stacked = [r for r in _read(folder, "gains.csv") if r["target"] == target and r["metric"] == metric
               and r["strategy"] == "stack" and r["gain"] not in ("", None)]
    # a run over one zero-shot language (BUCC zh-en here) has no average row: that language is its average
    languages = {r["language"] for r in stacked}
    kept = ZERO_SHOT_AVERAGE if ZERO_SHOT_AVERAGE in languages or len(languages) != 1 else languages.pop()
    return [Row(r["target"], metric, r["intermediate"].removeprefix("zoo:"), float(r["gain"]), float(r["gain_lo"]),
                float(r["gain_hi"]), r["seeds"], r.get("steps", ""), r.get("marks", "") or "")
            for r in stacked if r["language"] == kept]


def retrieval_rows(folders: list[Path]) -> list[tuple[str, list[Row]]]:
    """(metric, stack rows) of Tatoeba's and BUCC's every metric, in each folder that has them."""
    found = []
    for folder in folders:
        for task in ("tatoeba", "bucc"):
            for metric in get_task(task).metrics:
                if rows := stacked_rows(folder, task, metric, budget=None):
                    found.append((metric, rows))
    return found


def improves(row: Row) -> str:
    return HOLDS if row.lo > 0 else FAILS if row.hi <= 0 else UNSURE


def no_benefit(row: Row) -> str:
    return FAILS if row.lo > 0 else HOLDS if row.hi < MARGIN else UNSURE


def every(verdicts: list[str]) -> str:
    return FAILS if FAILS in verdicts else HOLDS if verdicts and all(v == HOLDS for v in verdicts) else UNSURE


def _measured(rows: list[Row]) -> str:
    kept = [r.text() for r in rows if not r.same_data]
    apart = [r.text() for r in rows if r.same_data]
    return "; ".join(kept) + (f" (apart: {'; '.join(apart)})" if apart else "")


def _seeds(rows: list[Row]) -> str:
    return ", ".join(sorted({r.seeds for r in rows})) or "?"


def xnli_claim(study: Path | None) -> Claim:
    claim = "XNLI does not benefit from intermediate training once the target has converged"
    rows = stacked_rows(study, "xnli")
    kept = [r for r in rows if not r.same_data]
    if not kept:
        return Claim(claim, "XNLI at `auto`", "not yet measured: no stacked row of target `xnli @auto` (a budget "
                     f"sweep's `auto`) in {study}/gains.csv", NOT_YET, "")
    verdicts = {r.task: no_benefit(r) for r in kept}
    unconverged = [r.task for r in kept if MARK in r.marks]
    under = [r.task for r in kept if UNDER_MARK in r.marks]  # a longer-trained adapter might transfer otherwise
    reason = (f"benefit excluded beyond {MARGIN:g} point for {', '.join(t for t, v in verdicts.items() if v == HOLDS) or 'no row'}"
              f"; helps: {', '.join(t for t, v in verdicts.items() if v == FAILS) or 'none'}"
              f"; cannot tell: {', '.join(t for t, v in verdicts.items() if v == UNSURE) or 'none'}"
              + (f"; {MARK} not converged: {', '.join(unconverged)}" if unconverged else "")
              + (f"; {UNDER_MARK} intermediate adapter not shown converged: {', '.join(under)}" if under else ""))
    return Claim(claim, f"XNLI avg w/o en, seeds {_seeds(kept)}, `auto`", _measured(rows), every(list(verdicts.values())),
                 reason)


def retrieval_claim(folders: list[Path]) -> Claim:
    claim = "BUCC and Tatoeba improve a lot (scored from the encoder with the intermediate adapter active)"
    parts, verdicts = [], []
    for metric, rows in retrieval_rows(folders):
        parts.append(f"{metric}: {_measured(rows)}")
        verdicts += [improves(r) for r in rows if not r.same_data]
    if not verdicts:
        return Claim(claim, "Tatoeba, BUCC", "not yet measured", NOT_YET, "")
    count = {v: verdicts.count(v) for v in (HOLDS, FAILS, UNSURE)}
    reason = (f"{count[HOLDS]} of {len(verdicts)} adapter × metric rows improve, {count[FAILS]} do not, "
              f"{count[UNSURE]} cannot tell (\"a lot\" is not tested: any interval above 0 counts)")
    return Claim(claim, "avg w/o en, each adapter active, no training", "<br>".join(parts), every(verdicts), reason)


def qa_claim(qa: Path | None) -> Claim:
    claim = "QA targets improve moderately"
    rows = stacked_rows(qa, "xquad")
    if not rows:
        return Claim(claim, "XQuAD (trained on TyDiQA-GoldP English) at `auto`", "not yet measured", NOT_YET, "")
    best = max(rows, key=lambda r: r.gain)
    verdict = HOLDS if best.lo > 0 else FAILS if all(r.hi <= 0 for r in rows) else UNSURE
    reason = {HOLDS: f"the best row ({best.task}) lies above 0", UNSURE: f"the best row ({best.task}) spans 0",
              FAILS: "every row lies at or below 0"}[verdict]
    return Claim(claim, f"XQuAD F1 avg w/o en, seeds {_seeds(rows)}, `auto`", _measured(rows), verdict, reason)


def best_tasks_claim(study: Path | None) -> Claim:
    claim = "MNLI, SQuAD and HellaSwag are the best intermediate tasks"
    verdicts, parts = [], []
    for task in ("xnli", "pawsx"):
        rows = [r for r in stacked_rows(study, task) if not r.same_data]
        named = [r for r in rows if r.task in BEST_TASKS]
        others = [r for r in rows if r.task not in BEST_TASKS]
        if not named or not others:
            continue
        top = max(named, key=lambda r: r.lo)
        verdict = (HOLDS if all(top.lo > o.hi for o in others)
                   else FAILS if any(o.lo > max(n.hi for n in named) for o in others) else UNSURE)
        verdicts.append(verdict)
        parts.append(f"{task}: {verdict} ({_measured(rows)})")
    if not verdicts:
        return Claim(claim, "XNLI, PAWS-X at `auto`", "not yet measured (no SQuAD adapter: the local SQuAD 2.0 "
                     "slice is two articles)", NOT_YET, "")
    return Claim(claim, "XNLI, PAWS-X avg w/o en at `auto` (§ rows left out; no SQuAD adapter)", "<br>".join(parts),
                 every(verdicts), "per target, the better of MNLI and HellaSwag against every other row's interval")


def multitask_claim(folders: list[Path]) -> Claim:
    claim = "The multi-task adapter adds a little over the best single task"
    verdicts, parts = [], []
    for metric, rows in retrieval_rows(folders):
        multi = [r for r in rows if r.task == MULTITASK and not r.same_data]
        single = [r for r in rows if r.task != MULTITASK and not r.same_data]
        if not multi or not single:
            continue
        best = max(single, key=lambda r: r.gain)
        verdicts.append(HOLDS if multi[0].lo > best.hi else FAILS if multi[0].hi < best.lo else UNSURE)
        parts.append(f"{metric}: {multi[0].text()} against the best single, {best.text()}")
    if not verdicts:
        return Claim(claim, "Tatoeba, BUCC (the study's XNLI and PAWS-X rows have no multi-task adapter)",
                     "not yet measured", NOT_YET, "")
    return Claim(claim, "Tatoeba, BUCC avg w/o en, adapter active, no training (no multi-task row under XNLI or "
                 "PAWS-X)", "<br>".join(parts), every(verdicts),
                 "the multi-task interval against the best single task's (above: holds; below: does not)")


def typology_claim(study: Path | None, distance: str = "syntactic") -> Claim:
    claim = "The gain shrinks with typological distance from English"
    rows = [r for r in _read(study, "correlations.csv")
            if r["target"] in ("xnli @auto", "pawsx @auto") and r["quantity"] == "gain" and r["distance"] == distance
            and r["rho_lo"] not in ("", None)]
    if not rows:
        return Claim(claim, f"XNLI, PAWS-X at `auto`, {distance} distance (URIEL+)", "not yet measured", NOT_YET, "")
    verdicts = [HOLDS if float(r["rho_hi"]) < 0 else FAILS if float(r["rho_lo"]) > 0 else UNSURE for r in rows]
    parts = [f"{r['target']} {r['row']}: ρ {float(r['rho']):+.2f} [{float(r['rho_lo']):+.2f}, {float(r['rho_hi']):+.2f}]"
             + (f", partial (log GiB) {float(r['partial_rho']):+.2f}" if r.get("partial_rho") else "") for r in rows]
    return Claim(claim, f"gain against {distance} distance (URIEL+), Spearman ρ over the zero-shot languages",
                 "<br>".join(parts), every(verdicts), f"{verdicts.count(HOLDS)} of {len(rows)} rows' ρ lie below 0")


def claims(study: Path | None, retrieval: list[Path], qa: Path | None) -> list[Claim]:
    return [xnli_claim(study), retrieval_claim(retrieval), qa_claim(qa), best_tasks_claim(study),
            multitask_claim(retrieval), typology_claim(study)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, help="adaptx analyze's folder for XNLI and PAWS-X (runs/convergence/analysis)")
    parser.add_argument("--retrieval", type=Path, nargs="*", default=[], help="folders for Tatoeba and BUCC")
    parser.add_argument("--qa", type=Path, help="the folder for the QA run (runs/convergence-qa/analysis)")
    args = parser.parse_args(argv)
    for folder in [args.study, args.qa, *args.retrieval]:
        if folder is not None and not (folder / "gains.csv").is_file():
            print(f"replication_claims: {folder}: no gains.csv there (run `adaptx analyze RUN` first; its "
                  "folder is RUN/analysis)", file=sys.stderr)
            return 2
    print("| claim (paper) | setting | measurement: gain, avg w/o en [95% interval] | verdict |")
    print("|---|---|---|---|")
    for claim in claims(args.study, args.retrieval, args.qa):
        print(claim.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
