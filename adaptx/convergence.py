"""Did a stage converge? Read from what its training recorded, for every table that shows its scores.

One rule, `auto`'s: a stage has converged once English dev has stopped improving for `patience`
evaluations. A stage trained with `auto` (adaptx.train) records whether it stopped that way before its
step limit, and that record is kept. A stage trained for a fixed number of steps, a stage banked
before convergence was recorded, and a zoo entry are judged by their English-dev curve: converged
where their best score came at least PATIENCE evaluations before the last (what `auto` with its
default patience would have stopped on). A shorter flat stretch does not count: XNLI's `none` at 150
steps peaked at step 90 of 150 on 500 dev rows, then trained on to a best of 0.698 at step 1,000
under `auto` (0.486 at 150 steps).
"""

from __future__ import annotations

from .zoo_refs import is_zoo_ref

MARK = "†"  # a row whose target stage had not converged (results.md, analysis.md); an entry (zoo show)
UNDER_MARK = "‡"  # a row with an intermediate (or fused) stage under it that had not converged
PATIENCE = 5  # evaluations without improvement that show convergence: adaptx.config.AutoBudget's default patience
MARK_TEXT = (f"{MARK} = its target stage had not converged: English dev improved within its last {PATIENCE} "
             "evaluations, or it stopped at its step limit (a larger budget, or train.target_steps: auto, may change "
             "the row)")
UNDER_MARK_TEXT = (f"{UNDER_MARK} = an intermediate adapter under it had not converged (English dev improved within "
                   f"its last {PATIENCE} evaluations)")


def from_curve(curve: list, patience: int = PATIENCE) -> dict:
    """{'converged', 'convergence'} from a dev curve: [[step, score], ...] or [{'step', 'dev_score'}, ...].
    Converged where no later evaluation beat the best in the `patience` evaluations after it."""
    points = [(p["step"], p["dev_score"]) if isinstance(p, dict) else (p[0], p[1]) for p in curve or []]
    if not points:
        return {"converged": None, "convergence": "no English-dev curve recorded"}
    best = max(score for _, score in points)
    at = next(i for i, (_, score) in enumerate(points) if score == best)
    best_step, last, after = points[at][0], points[-1][0], len(points) - 1 - at
    if after >= patience:
        return {"converged": True, "convergence": f"English dev peaked at step {best_step} of {last}, then {after} "
                                                  "evaluations without improvement"}
    if after == 0:
        return {"converged": False, "convergence": "still improving at its last step"}
    return {"converged": False, "convergence": f"English dev peaked at step {best_step} of {last}, {after} "
                                               f"evaluation{'s' if after != 1 else ''} before its last (fewer than "
                                               f"{patience}: not shown to have stopped improving)"}


def of_training(summary: dict | None) -> dict:
    """A trained stage's convergence (metrics.json's `train`): an `auto` stage's record, else from its curve
    (a fixed budget's record before this rule judged a single dip as convergence)."""
    if not summary:
        return {"converged": None, "convergence": "not trained"}
    if summary.get("budget") == "auto" and isinstance(summary.get("converged"), bool):
        return {"converged": summary["converged"], "convergence": str(summary.get("convergence", ""))}
    return from_curve(summary.get("history") or [])


def of_card(training: dict) -> dict:
    """A zoo entry's convergence from its card's training section (adaptx.zoo_card.Training.facts): an
    entry that stopped before its step limit stopped by `auto`'s patience, as its card records; every
    other entry from its dev curve."""
    steps, trained = training.get("steps"), training.get("steps_trained")
    stopped_early = isinstance(steps, int) and isinstance(trained, int) and trained < steps
    if stopped_early and training.get("converged") is True:
        return {"converged": True, "convergence": str(training.get("convergence", ""))}
    curve = training.get("dev_curve")
    ok = isinstance(curve, list) and all(isinstance(p, list) and len(p) == 2 for p in curve)
    return from_curve(curve if ok else [])


def marked(converged) -> str:
    """The mark a row or entry gets: † where a stage had not converged (None: unknown, no mark)."""
    return MARK if converged is False else ""


def stage_facts(stage, finished, zoo: dict, data) -> dict:
    """What a results record says of the stage behind it: its step budget where the run sweeps budgets
    (else None), the steps it trained, whether it and the stages under it converged, the intermediate
    tasks that trained on the target's own data, and the kernels it trained on (from metrics.json).
    finished(stage_id) -> metrics.json's content or None; zoo: zoo:NAME -> adaptx.zoo_resolve.ZooAdapter;
    data: the run's RunData."""
    cards = {ref: adapter.card for ref, adapter in zoo.items()}  # adaptx.zoo_card.Card
    same_data = same_data_intermediates(data, zoo, stage)
    metrics = finished(stage.id) or {}
    own = metrics.get("train") if stage.trains else None
    under = [of_card(cards[src].training.facts)["converged"] if src in cards else of_training((finished(src) or {}).get("train"))["converged"]
             for src in dict.fromkeys([*stage.adapters.values(), *stage.needs])]
    facts = {"budget": stage.budget, "steps": own.get("steps") if own else None,
             "converged": of_training(own)["converged"] if own else None,
             "intermediate_converged": False if False in under else (True if under and all(under) else None)}
    if same_data:
        facts["same_data"] = list(same_data)
    hardware = metrics.get("hardware")
    if isinstance(hardware, dict) and isinstance(hardware.get("kernels"), dict):
        from .kernels import describe_kernels  # torch loads with it: `adaptx report` reads this module without

        facts["kernels"] = describe_kernels(hardware["kernels"])
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
