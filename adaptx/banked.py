"""Finished stages banked without their weights that a run still needs: they train again.

A run folder committed to git (studies/) keeps each stage's small files and leaves its weights out.
A finished stage without weights is skipped as long as nothing needs them; it must train again when
one of its languages is still to be evaluated (the stage was banked between training and the end of
its evaluation) or when a stage that builds on it still has to train. Its evaluation files already
there are kept: the same recipe trains the same model (the study's reruns reproduced its scores to
the decimal on CPU), so only the missing languages are scored.
"""

from __future__ import annotations

from .plan import Stage
from .stage_evaluation import unevaluated_languages


def stages_to_retrain(experiment, stages: list[Stage]) -> dict[str, str]:
    """Stage id -> why it trains again, for every finished stage of `stages` whose weights are gone
    and still needed. Later stages are looked at first, so a stage that trains again makes the
    weightless stages it builds on needed too."""
    store = experiment.store
    needed_by: dict[str, str] = {}  # stage id -> a stage that still has to train on its outputs
    retrain: dict[str, str] = {}
    for stage in reversed(stages):
        runs = store.finished(stage.id) is None
        if not runs and stage.trains and not store.folder(stage.id).holds_weights():
            why = _why_needed(experiment, stage, needed_by.get(stage.id))
            if why:
                retrain[stage.id] = why
                runs = True
        if runs and stage.trains:
            for source in stage.needs:
                needed_by.setdefault(source, stage.id)
    return retrain


def _why_needed(experiment, stage: Stage, dependent: str | None) -> str | None:
    missing = unevaluated_languages(experiment, stage) if stage.evaluate else []
    if missing:
        return f"{', '.join(missing)} still to evaluate"
    if dependent:
        return f"{dependent} still to train on it"
    return None
