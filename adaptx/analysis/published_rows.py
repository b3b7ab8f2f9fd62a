"""Each row's all-language average beside the published XLM-R Large and X-STILTs figures
(adaptx.published), for runs on XLM-R Large: the comparison the paper's grid is read against."""

from __future__ import annotations

from dataclasses import dataclass

from .. import published
from ..stats import Bootstrap
from ..tasks import TASKS
from .gains import percent, row_languages
from .runs import Target


@dataclass
class BesidePublished:
    target: str
    metric: str
    row: str
    languages: int  # languages of this row's average
    of: int  # languages the task has (the published average's)
    score: float
    lo: float
    hi: float


def on_published_base(runs) -> bool:
    return any(run.family == published.FAMILY for run in runs)


def beside_published(target: Target, boot: Bootstrap, messages: list[str]) -> list[BesidePublished]:
    """Every row's average over all its languages (English included, as the published figures),
    when the task has a published figure in this target's metric."""
    ref = published.reference(target.task)
    if ref is None or ref.metric != target.metric:
        return []
    task = TASKS.get(target.task)
    out = []
    for name, row in target.rows.items():
        langs = row_languages(row)
        score = boot.interval(name, langs)
        out.append(BesidePublished(target.task, target.metric, name, len(langs), len(task.languages) if task else len(langs),
                                   percent(score.point), percent(score.lo), percent(score.hi)))
    short = [r.row for r in out if r.languages < r.of]
    if short:
        messages.append(f"{target.task}: {', '.join(short)} average(s) over fewer languages than the published "
                        f"figures ({out[0].of}); read the comparison with that in mind")
    return out


def markdown_lines(rows: list[BesidePublished]) -> list[str]:
    if not rows:
        return []
    lines = ["## Beside the published numbers (XLM-R Large)", "",
             f"Published: {published.SOURCE}. Each figure is the task's average over all its test languages, "
             "English included (QA: F1); ours: each row's average over the languages it was evaluated in "
             "(the split and rows of the tables above), [95% interval].", ""]
    for task in dict.fromkeys(r.target for r in rows):
        ref = published.reference(task)
        mine = [r for r in rows if r.target == task]
        lines += [f"### {task} ({mine[0].metric})", "", "| row | languages | score |", "|---|---:|---:|"]
        lines += [f"| {r.row} | {r.languages} of {r.of} | {r.score:.1f} [{r.lo:.1f}, {r.hi:.1f}] |" for r in mine]
        lines.append(f"| XLM-R Large (published) | {mine[0].of} | {ref.xlmr:.1f} |")
        if ref.xstilts is not None:
            lines.append(f"| X-STILTs (published) | {mine[0].of} | {ref.xstilts:.1f} |")
        lines.append("")
    return lines
