"""XTREME's own aggregation of task scores, as google-research/xtreme's evaluate.py computes it.

evaluate.py (version 'xtreme'): a task's score is the average over its languages of its metric;
for the QA tasks it is the mean of the F1 average and the exact-match average, for every other
task the F1 average where the task reports F1 (UD-POS, PAN-X, BUCC) and the accuracy average
otherwise (XNLI, PAWS-X, Tatoeba). A group's score is the mean of its tasks' scores, given only
when every task of the group was evaluated; the overall score is the mean of all nine *tasks*
(not of the four groups), given only when all nine were evaluated. BUCC and Tatoeba count as
two tasks of the retrieval group like any other.
"""

from __future__ import annotations

# evaluate.py's XTREME_GROUP2TASK in adaptx's names (its 'tagging' group is adaptx's 'structured'
# category, its 'bucc2018' adaptx's 'bucc'); tests/test_xtreme_aggregation.py checks that the task
# registry's categories agree
GROUPS: dict[str, tuple[str, ...]] = {
    "classification": ("pawsx", "xnli"),
    "structured": ("udpos", "panx"),
    "qa": ("xquad", "mlqa", "tydiqa"),
    "retrieval": ("bucc", "tatoeba"),
}
XTREME_TASKS: tuple[str, ...] = tuple(name for names in GROUPS.values() for name in names)


def task_metrics(task) -> tuple[str, ...]:
    """The metrics whose language averages make up a task's XTREME score: a QA task's F1 and exact
    match (its headline metric and its extra one); any other task its summary metric."""
    if task.name in GROUPS["qa"]:
        return task.metrics
    return (task.summary_metric or task.metric,)


def task_score(averages: dict[str, float | None], metrics: tuple[str, ...]) -> float | None:
    """The mean of the metrics' language averages (a QA task: (F1 + EM) / 2); None if one is missing."""
    values = [averages.get(m) for m in metrics]
    return None if any(v is None for v in values) else sum(values) / len(values)


def aggregate(scores: dict[str, float | None]) -> dict:
    """{"groups": {group: mean of its tasks or None}, "overall": mean of the nine tasks or None},
    for the groups that have at least one task in `scores` (task -> XTREME task score)."""
    def mean_of(names):
        values = [scores.get(n) for n in names]
        return None if any(v is None for v in values) else sum(values) / len(values)

    groups = {g: mean_of(names) for g, names in GROUPS.items() if any(n in scores for n in names)}
    return {"groups": groups, "overall": mean_of(XTREME_TASKS)}
