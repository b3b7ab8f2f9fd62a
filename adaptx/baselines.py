"""Trivial baselines: what a score must beat to show that anything was learned.

The prediction that needs no model, taken from the English training sample: the majority label
(classification), the most frequent right choice (multiple choice), the most frequent tag for every
word (tagging), the empty answer for every question (QA). Scored with the task's own metric on the
same rows a run scores, so the numbers sit beside a run's table. Retrieval has none (it trains
nothing; its chance level is one in the number of candidates).

`trivial_spec` writes the prediction as plain data for the report context, so `adaptx report`
scores it on a run's evaluated rows (`trivial_predictions`) without the training data.
"""

from __future__ import annotations

from .metrics import metric_for_language


def trivial_spec(experiment, task_name: str) -> dict | None:
    """The trivial prediction as plain data (JSON), so that a report can score it without the data:
    {"what": description, "per": "example" | "word", "value": the prediction}; None where a kind has
    no trivial baseline."""
    from .kinds import get_kind  # here, not above: `adaptx report` needs only trivial_predictions, not torch

    task = experiment.task(task_name)
    kind = get_kind(task.kind)
    return kind.trivial(task, lambda: kind.golds(experiment.data(task_name, "train")))


def trivial_specs(experiment) -> dict[str, dict]:
    """task -> trivial_spec for every target task of a run that has one (the report context's 'trivial')."""
    specs = {task.name: trivial_spec(experiment, task.name) for task in experiment.targets}
    return {name: spec for name, spec in specs.items() if spec is not None}


def trivial_spec_problem(spec) -> str | None:
    """What is wrong with a trivial spec read back from a file (results-summary.json), or None."""
    if not isinstance(spec, dict) or not {"what", "per", "value"} <= spec.keys():
        return "expected an object with what, per and value"
    if not isinstance(spec["what"], str) or spec["per"] not in ("example", "word"):
        return f"what must be text and per 'example' or 'word', got {spec['what']!r} and {spec['per']!r}"
    if not isinstance(spec["value"], (str, int)) or isinstance(spec["value"], bool):
        return f"value must be a label, tag or answer (text or an integer), got {spec['value']!r}"
    return None


def trivial_predictions(spec: dict, golds: list) -> list:
    """The spec's prediction for every gold: one per example, or one per word of each gold sequence."""
    if spec["per"] == "word":
        return [[spec["value"]] * len(g) for g in golds]
    return [spec["value"]] * len(golds)


def trivial_predictor(experiment, task_name: str):
    """(description, predict(golds) -> predictions), or None where a kind has no trivial baseline."""
    spec = trivial_spec(experiment, task_name)
    if spec is None:
        return None
    return spec["what"], lambda golds: trivial_predictions(spec, golds)


def trivial_score(experiment, task_name: str, split: str = "dev", lang: str = "en",
                  metric: str | None = None) -> tuple[str, float] | None:
    """The trivial baseline's score (0..1) on the rows a run uses for (split, lang)."""
    predictor = trivial_predictor(experiment, task_name)
    if predictor is None:
        return None
    from .kinds import get_kind

    what, predict = predictor
    task = experiment.task(task_name)
    golds = get_kind(task.kind).golds(experiment.data(task_name, split, lang))
    return what, metric_for_language(metric or task.metric, lang).compute(predict(golds), golds)
