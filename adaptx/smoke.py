"""`adaptx run CONFIG --smoke`: the same run shrunk until it finishes in about a minute on a CPU.

Every stage of the config still runs end to end (every strategy, intermediate and target
training, zero-shot evaluation, the results table), but with a couple of training steps on a
few short rows and a few evaluation rows in two languages (300 source sentences for BUCC, whose mining
needs gold pairs among them), into a folder of its own
(`<output_dir>-smoke`), so it never mixes with real results. It checks an installation and a
config, not a method: the banner, the run's config.yaml (`smoke: true`) and results.md all say
that its numbers mean nothing. With a built-in data pack the run samples its few rows from the
pack's (a pack otherwise refuses any other sampling, see adaptx.packs): a smoke run makes no
claim about which rows a full run would see. It keeps its disk small too: each full-model stage keeps
the base's word embeddings frozen and saves the rest of its encoder in bf16 (43 MB on the embedded base
instead of 449 MB) and deletes it once the stages that build on it are done and evaluated
(drop_used_full_weights; `adaptx predict` on such a stage says why it has no weights): the smoke
quickstart peaks at 112 MB.
"""

from __future__ import annotations

from pathlib import Path

from .config import AUTO, ExperimentConfig
from .errors import AdaptxError
from .fileio import atomic_write_text
from .run_folder import RunFolder
from .tasks import get_task

STEPS = 2  # per trained stage: the estimate, a checkpointable step and an evaluation all happen
BATCH = 4
MAX_SEQ_LENGTH = 32
TRAIN_ROWS, DEV_ROWS, EVAL_ROWS = 32, 8, 8
# BUCC mines among its sampled source sentences, and only ~3% of them have a gold partner (257 of 8,624 in
# zh-en dev): 300 hold about 9, where 8 usually hold none and the run is refused (it needs 2)
MINING_EVAL_ROWS = 300
NOTE = ("SMOKE RUN (--smoke): every stage trained for a couple of steps on a handful of rows; it checks that "
        "the whole run works end to end. These numbers mean nothing.")


def smoke_languages(cfg: ExperimentConfig) -> list[str]:
    """English (where a target has it: Tatoeba and BUCC pair each language with English and list only the
    other) and one other language of each target (the config's own choice first)."""
    offered_by_target = [[lang for lang in (cfg.languages or get_task(target).languages)
                          if lang in get_task(target).languages] for target in cfg.targets]
    chosen = ["en"] if any("en" in offered for offered in offered_by_target) else []
    for offered in offered_by_target:
        others = [lang for lang in offered if lang != "en"]
        if others and not set(others[:1]) & set(chosen):
            chosen.append(others[0])
    return chosen


def _eval_rows(cfg: ExperimentConfig) -> int:
    """Evaluation rows per language: a few, or enough for BUCC's mining to meet gold pairs."""
    return MINING_EVAL_ROWS if any(get_task(t).params.get("mining") for t in cfg.targets) else EVAL_ROWS


def _smoke_steps(budget) -> str:
    """A budget shrunk to a couple of steps; a sweep keeps its shape ([150, 600, auto] -> [2, 3, auto]) and
    `auto` stays itself (train.auto shrunk), so the smoke run has the stages the real one has."""
    if isinstance(budget, list):
        fixed = iter(range(STEPS, STEPS + len(budget)))
        return "[" + ", ".join(AUTO if b == AUTO else str(next(fixed)) for b in budget) + "]"
    return AUTO if budget == AUTO else str(STEPS)


def smoke_overrides(cfg: ExperimentConfig) -> list[str]:
    """The dotted overrides that shrink `cfg` into its smoke run (the user's own overrides go after)."""
    seq = min(cfg.max_seq_length, MAX_SEQ_LENGTH)
    overrides = [
        "smoke=true", f"output_dir={cfg.output_dir.rstrip('/')}-smoke", f"seeds=[{cfg.seeds[0]}]",
        f"languages=[{', '.join(smoke_languages(cfg))}]", f"max_seq_length={seq}",
        f"train.intermediate_steps={_smoke_steps(cfg.train.intermediate_steps)}",
        f"train.target_steps={_smoke_steps(cfg.train.target_steps)}", "train.target_epochs=null",
        f"train.auto.max_steps={STEPS}", "train.auto.eval_every=1", "train.auto.patience=1",
        "train.intermediate_epochs=null",
        f"train.batch_size={BATCH}", "train.target_batch_size={}", f"train.micro_batch_size={BATCH}",
        f"train.eval_every={STEPS}", f"train.checkpoint_every={STEPS}",
        f"data.max_train_examples={TRAIN_ROWS}", f"data.max_dev_examples={DEV_ROWS}",
        f"data.max_eval_examples={_eval_rows(cfg)}",
        "full_save_dtype=bf16",  # half the disk a full-model stage holds until it is used (its numbers mean nothing)
        "full_frozen_embeddings=true",  # and without the word embeddings (82% of the embedded base): 43 MB, not 235
    ]
    if cfg.intermediate.mlm.source:
        overrides.append(f"intermediate.mlm.max_texts={TRAIN_ROWS}")
    return overrides


def is_smoke_run(run_dir) -> bool:
    """Whether a run folder is a smoke run's: its config.yaml says smoke: true (as a smoke run writes it)."""
    from .fileio import read_text
    from .safe_yaml import safe_load

    try:
        config = safe_load(read_text(RunFolder(run_dir).config_file))
    except Exception:  # noqa: BLE001 - missing, unreadable, not YAML: not known to be a smoke run
        return False
    return isinstance(config, dict) and config.get("smoke") is True


def check_smoke_folder(run_dir) -> None:
    """A smoke run writes only into a new or empty folder or an earlier smoke run's (its config.yaml
    says smoke: true): never into a real run's, whose results.json and results.md it would replace
    (--out takes the smoke run anywhere, past the -smoke suffix)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return
    if not is_smoke_run(run_dir):
        raise AdaptxError(f"--smoke: {run_dir} holds files that are not a smoke run's (its config.yaml does not say "
                          "smoke: true); a smoke run never writes into real results: pass another --out, or leave "
                          "--out out (the smoke run goes to <output_dir>-smoke)")


def mark_results(run_dir, text: str) -> str:
    """The smoke note at the top of results.md (after its title) and of the tables `text` to print."""
    path = Path(run_dir) / "results.md"
    head, _, rest = path.read_text(encoding="utf-8").partition("\n")
    atomic_write_text(path, f"{head}\n\n> **{NOTE}**\n{rest}")
    return f"{NOTE}\n\n{text}"


KEPT_NO_WEIGHTS = ("a smoke run (--smoke) keeps no full-model stage's weights once the stages that build on it "
                   "are done: its numbers mean nothing, and a full-model stage of a real run is the whole encoder "
                   "(449 MB on the embedded base); run without --smoke to keep them, or delete this stage folder and "
                   "rerun to train it again")


def drop_used_full_weights(store, stages, last) -> None:
    """After stage `last` of a smoke run (trained and evaluated): the encoder weights of every full-model
    stage up to it that no later stage builds on, deleted, so that a smoke run stays small (adapter stages
    keep theirs: a few MB). An interrupted smoke run keeps what its later stages build on."""
    from . import logs

    done = stages[:stages.index(last) + 1]
    later_needs = {need for stage in stages[len(done):] for need in stage.needs}
    for stage in done:
        if stage.id not in later_needs and (freed := store.folder(stage.id).drop_encoder(KEPT_NO_WEIGHTS)):
            logs.info(f"  smoke run: deleted {stage.id}'s encoder weights ({freed / 1e6:.0f} MB), used by every "
                      "stage that builds on it")
