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


def versus_trivial(experiment, task_name: str, model) -> dict | None:
    """Does a trained model beat the trivial baseline on the English dev rows it was selected on?
    Both are scored with the task's metric on the same rows, and a paired bootstrap over those rows
    gives the 95% interval of the difference (the model's best weights must be in place). A mixture
    (multi-task) compares with every part's trivial prediction at once. None where there is no
    trivial baseline (retrieval, masked LM)."""
    from .kinds import get_kind
    from .stats import Evaluation, paired_bootstrap
    from .train import predict

    parts = experiment.rundata.parts(task_name, "dev") or [task_name]
    specs = {name: trivial_spec(experiment, name) for name in parts}
    if any(spec is None for spec in specs.values()):
        return None
    task, dev = experiment.task(task_name), experiment.data(task_name, "dev")
    golds = get_kind(task.kind).golds(dev)
    if parts != [task_name]:  # a mixture: (part, metric, value) triples, each part's own trivial value
        trivial = [(name, metric, trivial_predictions(specs[name], [gold])[0]) for name, metric, gold in golds]
        what = "; ".join(f"{name}: {spec['what']}" for name, spec in specs.items())
    else:
        trivial, what = trivial_predictions(specs[task_name], golds), specs[task_name]["what"]
    preds = predict(model, dev, experiment.pad_id, runtime=experiment.runtime)
    metric = metric_for_language(task.metric, "en")
    ids = list(range(len(golds)))
    rows = [{0: {"en": Evaluation.from_lists(ids, p, golds, f"{task_name} English dev")}} for p in (preds, trivial)]
    comparison = paired_bootstrap(*rows, metric, ["en"], names=("model", "trivial"))
    return {"trivial": what, "trivial_score": metric.compute(trivial, golds), "score": metric.compute(preds, golds),
            "delta": comparison.delta, "lo": comparison.lo, "hi": comparison.hi, "verdict": comparison.verdict,
            "rows": len(golds)}


def versus_trivial_text(result: dict | None) -> str:
    """One line for a stage summary: beats the trivial baseline or, said plainly, does not."""
    if result is None:
        return ""
    gap = (f"({result['trivial']}: {result['trivial_score']:.3f}): {100 * result['delta']:+.1f} points, "
           f"95% interval {100 * result['lo']:+.1f} to {100 * result['hi']:+.1f}")
    if result["verdict"] == "better":
        return f"beats its trivial baseline {gap}"
    return (f"DOES NOT beat its trivial baseline {gap}; it has not learned its task (train longer, change the "
            "learning rate, or leave it out)")
