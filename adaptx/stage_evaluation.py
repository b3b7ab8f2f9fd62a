"""Zero-shot evaluation of one stage: every language of its target task, one evaluation file each.

`<stage folder>/eval/<lang>-<split>-<hash>.json` holds a language's predictions, golds, scores and the
seconds they took; a file already there is read, not recomputed, so new languages or rows re-evaluate
a saved model and a rerun evaluates nothing twice.
"""

from __future__ import annotations

import time

from . import logs
from .convergence import stage_facts
from .describe import evaluation_line
from .fusion_attention import attention_record, recording as record_fusion_attention
from .kinds import get_kind
from .metrics import metric_for_language
from .plan import Stage
from .run_folder import write_json
from .train import predict


def evaluate_stage(experiment, stage: Stage) -> list[dict]:
    """Zero-shot scores of a stage in every language of its task (every metric the task reports);
    returns results records. Missing languages are reported, not scored."""
    runtime, task = experiment.runtime, experiment.task(stage.task)
    model, records, started = None, [], time.perf_counter()
    facts = stage_facts(stage, experiment.store.finished, experiment.zoo, experiment.rundata)  # budget, steps, §
    # decided before anything is written, so every process evaluates the same languages together
    missing = set(unevaluated_languages(experiment, stage))
    runtime.wait()
    for lang in evaluated_languages(experiment, stage):
        path = experiment.eval_file(stage, lang)
        if lang not in missing:
            result = experiment.store.read_eval(path, lang, task.metrics)
        else:
            if model is None:
                model = experiment.trained_model(stage) if stage.trains else experiment.build(stage)
            result = score_language(experiment, model, stage, task, lang)
            if runtime.is_main:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_json(path, {lang: result})
        for metric in task.metrics:
            records.append({"task": task.name, "strategy": stage.strategy, "intermediate": stage.intermediate_label,
                            "language": lang, "split": result["split"], "metric": metric,
                            "value": round(result["scores"][metric] * 100, 2), "seed": stage.seed,
                            "n": result["n"], "predictions": str(path.relative_to(experiment.run_dir)), **facts})
    experiment.forget_trained()
    if runtime.is_main:
        logs.info(evaluation_line(stage.id, task.metric, records, experiment.rundata.missing_languages(task.name),
                                  time.perf_counter() - started))
    runtime.wait()
    return records


def evaluated_languages(experiment, stage: Stage) -> list[str]:
    """The languages a stage is evaluated in: those of its task with an evaluation split here."""
    return [lang for lang, split in experiment.eval_splits[stage.task].items() if split is not None]


def unevaluated_languages(experiment, stage: Stage) -> list[str]:
    """Those of them without an evaluation file yet (adaptx.banked asks too: such a stage needs its model)."""
    return [lang for lang in evaluated_languages(experiment, stage) if not experiment.eval_file(stage, lang).is_file()]


def score_language(experiment, model, stage: Stage, task, lang: str) -> dict:
    """One language's predictions and scores (the content of its evaluation file), and its seconds."""
    kind, split, started = get_kind(task.kind), experiment.eval_splits[task.name][lang], time.perf_counter()
    data = experiment.data(task.name, f"eval-{split}", lang)
    attention = None
    if kind.trains:
        with record_fusion_attention(model) as attention:  # fuse stages: each layer's weights over adapters
            preds = predict(model, data, experiment.pad_id, progress=f"eval {stage.id} {lang}",
                            runtime=experiment.runtime)
        scored, golds = list(range(len(data.examples))), kind.golds(data)
    else:
        scored, preds, golds = kind.evaluate(model, data, experiment.pad_id, seed=experiment.cfg.data.sample_seed)
    scores = {m: metric_for_language(m, lang).compute(preds, golds) for m in task.metrics}
    return {"ids": [data.ids[i] for i in scored], **task.items_record(data.examples, scored), "pred": preds,
            "gold": golds, "scores": scores, "split": split, "n": len(scored), "skipped": data.skipped,
            "origin": experiment.split(task.name, f"eval-{split}", lang).origin, **attention_record(attention),
            "seconds": round(time.perf_counter() - started, 4)}  # what it cost (scripts/run_costs.py)
