"""Did a stage converge? Read from what its training recorded, for every table that shows its scores.

A stage trained with `auto` (adaptx.train: patience on English dev) records whether it stopped by
patience. A stage trained for a fixed number of steps, a stage banked before convergence was recorded,
and a zoo entry (its card's dev curve) are judged by their English-dev curve: one whose best score
came at its last evaluation was still improving, so a longer budget may change its result.
"""

from __future__ import annotations

from .zoo_refs import is_zoo_ref

MARK = "†"  # a row whose target stage had not converged (results.md, analysis.md); an entry (zoo show)
UNDER_MARK = "‡"  # a row with an intermediate (or fused) stage under it that had not converged
MARK_TEXT = (f"{MARK} = its target stage had not converged: English dev was still improving at its last step "
             "(a larger budget, or train.target_steps: auto, may change the row)")
UNDER_MARK_TEXT = (f"{UNDER_MARK} = an intermediate adapter under it had not converged (English dev still improving "
                   "at its last step)")


def from_curve(curve: list) -> dict:
    """{'converged', 'convergence'} from a dev curve: [[step, score], ...] or [{'step', 'dev_score'}, ...]."""
    points = [(p["step"], p["dev_score"]) if isinstance(p, dict) else (p[0], p[1]) for p in curve or []]
    if not points:
        return {"converged": None, "convergence": "no English-dev curve recorded"}
    best = max(score for _, score in points)
    best_step = next(step for step, score in points if score == best)
    last = points[-1][0]
    if best_step < last:
        return {"converged": True, "convergence": f"English dev peaked at step {best_step} of {last}"}
    return {"converged": False, "convergence": "still improving at its last step"}


def of_training(summary: dict | None) -> dict:
    """A trained stage's convergence (metrics.json's `train`): as recorded, else from its curve."""
    if not summary:
        return {"converged": None, "convergence": "not trained"}
    if isinstance(summary.get("converged"), bool):
        return {"converged": summary["converged"], "convergence": str(summary.get("convergence", ""))}
    return from_curve(summary.get("history") or [])


def of_card(training: dict) -> dict:
    """A zoo entry's convergence from its card's training section (adaptx.zoo_card.Training.facts):
    recorded on newer cards (training.converged), else from its dev curve."""
    if isinstance(training.get("converged"), bool):
        return {"converged": training["converged"], "convergence": str(training.get("convergence", ""))}
    curve = training.get("dev_curve")
    ok = isinstance(curve, list) and all(isinstance(p, list) and len(p) == 2 for p in curve)
    return from_curve(curve if ok else [])


def marked(converged) -> str:
    """The mark a row or entry gets: † where a stage had not converged (None: unknown, no mark)."""
    return MARK if converged is False else ""


def stage_facts(stage, finished, zoo: dict, data) -> dict:
    """What a results record says of the stage behind it: its step budget where the run sweeps budgets
    (else None), the steps it trained, whether it and the stages under it converged, and the intermediate
    tasks that trained on the target's own data. finished(stage_id) -> metrics.json's content or None;
    zoo: zoo:NAME -> adaptx.zoo_resolve.ZooAdapter; data: the run's RunData."""
    cards = {ref: adapter.card for ref, adapter in zoo.items()}  # adaptx.zoo_card.Card
    same_data = same_data_intermediates(data, zoo, stage)
    own = (finished(stage.id) or {}).get("train") if stage.trains else None
    under = [of_card(cards[src].training.facts)["converged"] if src in cards else of_training((finished(src) or {}).get("train"))["converged"]
             for src in dict.fromkeys([*stage.adapters.values(), *stage.needs])]
    facts = {"budget": stage.budget, "steps": own.get("steps") if own else None,
             "converged": of_training(own)["converged"] if own else None,
             "intermediate_converged": False if False in under else (True if under and all(under) else None)}
    if same_data:
        facts["same_data"] = list(same_data)
    return facts


def same_data_intermediates(data, zoo: dict, stage) -> list[str]:
    """The intermediate tasks of a target stage that trained on the target's own English training file
    (MNLI under XNLI, PAWS under PAWS-X): more training on the target's data, not transfer. Results
    tables mark such rows, and the analysis reports them apart."""
    if stage.kind != "target" or not stage.trains:
        return []
    target_train = data.split(stage.task, "train").digest
    source_of = dict(zip(stage.intermediates, stage.adapters.values()))  # a zoo_adapters task reads the zoo
    same = []
    for task in stage.intermediates:
        source = source_of.get(task, task)
        if not is_zoo_ref(source) and data.is_mixture(task):
            continue  # a mixture's parts are named in its own stage's notes
        digest = (zoo[source].card.training.data["train_sha256"] if is_zoo_ref(source)
                  else data.split(task, "train").digest)
        if task != stage.task and digest == target_train:
            same.append(task)
    return same
