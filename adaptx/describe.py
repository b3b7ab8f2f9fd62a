"""What a run prints: the plan before it starts, one line per stage, and the notes a reader of a
stage summary should know."""

from __future__ import annotations

from .convergence import MARK, of_training, same_data_intermediates
from .baselines import versus_trivial_text
from .config import ExperimentConfig
from .kinds import get_kind
from .mixture import MLM, MULTITASK
from .plan import Stage
from .rundata import RunData, translated_tasks
from .strategies import get_strategy


def describe_run(cfg: ExperimentConfig, data: RunData, runtime, run_dir, family: str | None, lr_defaults: dict,
                 stages: list[Stage]) -> str:
    """What the run will do, printed before it starts."""
    lrs = []
    for kind in ("adapter", "fusion", "full", "head"):
        value, own = cfg.lr(kind, lr_defaults), getattr(cfg.train, f"lr_{kind}") is not None
        lrs.append(f"{kind} {value if value is not None else 'body rate'} ({'config' if own else 'default'})")
    rows = cfg.data.max_eval_examples or "all"
    defaults = family or "unrecognised architecture: the paper's XLM-R rates"
    lines = []
    if cfg.smoke:
        from .smoke import NOTE  # smoke.py loads only for a smoke run

        lines.append(f"adaptx: {NOTE}")
    lines += [
        f"adaptx: {len(stages)} stages -> {run_dir} (base {cfg.base_model}: {family or 'unknown family'}, "
        f"{runtime.dtype} [{runtime.dtype_reason}] on {runtime.device_name()}"
        f"{f', {runtime.world_size} processes' if runtime.world_size > 1 else ''})",
        f"adaptx: learning rates: {', '.join(lrs)}; defaults for {defaults}",
    ]
    for target in data.targets:
        by_split: dict[str, list[str]] = {}
        for lang, split in data.eval_splits[target.name].items():
            by_split.setdefault(split or "missing", []).append(lang)
        where = "; ".join(f"{split}{' (rows held apart from model selection)' if split == 'dev' else ''} for "
                          f"{', '.join(langs)}" for split, langs in by_split.items())
        if get_kind(target.kind).trains:
            selection = (f"model selection on {len(data.data(target.name, 'dev'))} English dev rows of "
                         f"{data.split(target.name, 'dev').origin}; ")
        else:
            selection = "no training (evaluated from the encoder); "
        lines.append(f"adaptx: {target.name}: {selection}zero-shot {'/'.join(target.metrics)} on {where}; "
                     f"{rows} rows per language (seeded sample)")
        if target.train_note:
            lines.append(f"adaptx: {target.name}: {target.train_note}")
    lines += _describe_intermediate(cfg, data)
    skipped = {f"{t.name} {s}" for t in data.targets for s in cfg.strategies
               if not get_strategy(s).without_target_training and not get_kind(t.kind).trains}
    if skipped:
        lines.append(f"adaptx: not applicable without target training: {', '.join(sorted(skipped))}")
    return "\n".join(lines)


def run_config(cfg: ExperimentConfig, run_dir, data_dir) -> dict:
    """The config as this run used it, for its config.yaml: the run folder it wrote to (--out or
    output_dir) and the data folder it read (a built-in pack by its name, builtin:NAME)."""
    from pathlib import Path

    from .packs import PACKS_DIR, PREFIX

    resolved = cfg.to_dict()
    resolved["output_dir"] = str(run_dir)
    folder = Path(data_dir).resolve() if data_dir is not None else None
    # a pack's install path differs between machines; its name does not
    pack = folder is not None and folder.parent == PACKS_DIR
    resolved["data"]["dir"] = f"{PREFIX}{folder.name}" if pack else (str(folder) if folder else None)
    return resolved


def _describe_intermediate(cfg: ExperimentConfig, data: RunData) -> list[str]:
    """The multitask mixture and the alternatives (masked-LM, translated data), when used."""
    lines = []
    if MULTITASK in cfg.intermediate_tasks:
        task = data.task(MULTITASK)
        lines.append(f"adaptx: multitask: one adapter, one head per task, on {' + '.join(task.params['tasks'])}; "
                     f"each batch from one task, share of steps {_shares(data.mixture_summary(MULTITASK))} "
                     f"(examples-proportional, cap {task.params['cap']}); selected on the mean of the tasks' "
                     "English dev metrics")
    mlm = cfg.intermediate.mlm
    if mlm.source:
        lines.append(f"adaptx: intermediate stages: {mlm.rate:.0%} of steps are masked-LM batches on "
                     f"{len(data.data(MLM, 'train').examples)} texts from {data.split(MLM, 'train').origin} "
                     "(MLM head initialised from the tied word embeddings)")
    tr = cfg.intermediate.translated
    if tr.dir:
        lines.append(f"adaptx: intermediate training data of {', '.join(translated_tasks(cfg))}: "
                     f"{'English + ' if tr.mode == 'add' else ''}machine-translated {', '.join(tr.languages)} "
                     f"from {tr.dir} (English dev selects)")
    return lines


def stage_notes(cfg: ExperimentConfig, data: RunData, zoo: dict, stage: Stage) -> list[str]:
    """Facts a reader of the stage summary should know (legitimate, but easy to misread): where
    local data is not the task's own, rows left out or changed on purpose, the alternatives used."""
    notes: list[str] = []
    if stage.trains:
        trained = data.trained_task(stage)
        names = data.parts(trained, "train") or [trained]
        for name in names:
            if data.task(name).train_note:
                notes.append(data.task(name).train_note if len(names) == 1 else f"{name}: {data.task(name).train_note}")
        for split in ("train", "dev"):
            for problem, count in data.skipped(trained, split).items():
                notes.append(f"{split}: {problem}" + (f": {count}" if count else ""))
        if MLM in names:
            mlm = cfg.intermediate.mlm
            notes.append(f"{mlm.rate:.0%} of the steps are masked-LM batches on raw text from {mlm.source} "
                         f"({mlm.mask_probability:.0%} of tokens masked, static); the base ships no MLM head, so "
                         "one was initialised: decoder tied to the word embeddings, new transform (identity) "
                         "and bias")
    for task in same_data_intermediates(data, zoo, stage):
        notes.append(f"intermediate task {task} trains on the same English data as {stage.task}'s "
                     "target training (the paper's grid includes this pairing)")
    return notes


def _shares(summary: dict) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in summary["step_share"].items())


def evaluation_line(stage_id: str, metric: str, records: list[dict], missing: list[str], seconds: float) -> str:
    """The line a stage's zero-shot evaluation prints: its averages, the languages missing here, the time."""
    scores = {r["language"]: r["value"] for r in records if r["metric"] == metric}
    return (f"  {stage_id}: zero-shot {metric} {average_text(scores)}"
            f"{f'; missing here: {chr(44).join(missing)}' if missing else ''} ({seconds:.0f}s)")


def average_text(scores: dict[str, float]) -> str:
    others = [v for k, v in scores.items() if k != "en"]
    text = f"avg {sum(scores.values()) / len(scores):.1f}"
    return text + (f" (w/o en {sum(others) / len(others):.1f})" if others and len(others) < len(scores) else "")


def train_summary(metrics: dict) -> str:
    train = metrics["train"]
    if train is None:
        return "nothing to train (evaluated from the encoder)"
    text = (f"en dev {train['metric']} {train['best_dev_score']:.3f} (best of {len(train['history'])} evaluations, "
            f"step {train['best_step']}), {train['train_seconds']:.0f}s training")
    conv = of_training(train)
    if conv["converged"] is not None:
        text += f"; {'converged' if conv['converged'] else MARK + ' not converged'}: {conv['convergence']}"
        text += f" after {train['steps']} steps" if train.get("budget") == "auto" else ""
    if train.get("versus_trivial"):
        text += f"; {versus_trivial_text(train['versus_trivial'])}"
    distance = metrics.get("fusion", {}).get("value_distance_from_identity")
    if distance is not None:
        text += f", fusion value matrices {distance:.3f} from identity"
        text += " (regularised)" if train.get("fusion_regularizer") else " (not regularised)"
    for note in metrics.get("notes", []):
        text += f"\n  note: {note}"
    return text
