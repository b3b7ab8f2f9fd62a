"""Miniature experiments on the embedded model and the real data slices in ../shared/data."""

import json
import math

import pytest

from adaptx.pipeline import run_experiment

pytestmark = pytest.mark.integration


def stage_metrics(out, stage_id):
    folder = next((out / "stages").glob(f"{stage_id}-*"))
    return json.loads((folder / "metrics.json").read_text())


def test_miniature_experiment_end_to_end(shared_data, embedded_dir, tmp_path):
    overrides = [
        "intermediate_tasks=[qqp, sst2]", "target_task=xnli", "languages=[en, de, sw, zh]",
        "strategies=[none, stack, fuse, full, full-none]", "max_seq_length=64",
        "train.intermediate_steps=2", "train.target_steps=2", "train.batch_size=4",
        "data.max_train_examples=64", "data.max_dev_examples=8", "data.max_eval_examples=12",
    ]
    out = run_experiment(None, data_dir=shared_data, out_dir=tmp_path / "run", overrides=overrides)
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 7 * 4  # 7 strategy rows x 4 languages
    assert {r["language"] for r in records} == {"en", "de", "sw", "zh"}
    assert all(r["metric"] == "accuracy" and r["split"] == "test" and r["n"] == 12 for r in records)
    assert stage_metrics(out, "target-xnli-stack-qqp-s0")["trainable_parameters"] < 1_000_000  # adapter + head
    assert stage_metrics(out, "target-xnli-full-qqp-s0")["trainable_parameters"] > 100_000_000
    # a 12-row sample of a 5010-row file drawn at random, stratified: 4 rows of each label
    de = json.loads((out / records[1]["predictions"]).read_text())
    (lang, rows), = de.items()
    assert max(rows["ids"]) > 100 and sorted(rows["gold"].count(k) for k in range(3)) == [4, 4, 4]


def test_pawsx_end_to_end_on_the_real_crlf_training_file(shared_data, embedded_dir, tmp_path):
    overrides = [
        "target_task=pawsx", "strategies=[none]", "max_seq_length=64", "train.target_steps=2",
        "train.batch_size=4", "data.max_train_examples=32", "data.max_dev_examples=16", "data.max_eval_examples=10",
    ]
    out = run_experiment(None, data_dir=shared_data, out_dir=tmp_path / "run", overrides=overrides)
    records = {r["language"]: r for r in json.loads((out / "results.json").read_text())}
    assert set(records) == {"en", "de", "es", "fr", "ja", "ko", "zh"}
    assert {lang for lang, r in records.items() if r["split"] == "test"} == {"en", "de", "zh"}
    metrics = stage_metrics(out, "target-xnli-none-s0".replace("xnli", "pawsx"))
    assert metrics["data"]["train"].endswith("paws_en/paws_wiki_final_test.tsv")
    assert metrics["data"]["train_rows"] == 32
    # the CRLF file's labels parsed as labels, not as "1\r": both classes present in the sample
    assert len(set(json.loads((out / records["en"]["predictions"]).read_text())["en"]["gold"])) == 2


def test_a_short_run_on_real_data_beats_chance(shared_data, embedded_dir, tmp_path):
    """SST-2 adapter, 60 steps x 16: English dev accuracy far above 50% (one-sided binomial p < 1e-4)."""
    overrides = [
        "intermediate_tasks=[sst2]", "strategies=[stack]", "languages=[en]", "max_seq_length=64",
        "train.intermediate_steps=60", "train.target_steps=1", "train.batch_size=16", "train.lr_adapter=2e-3",
        "data.max_dev_examples=200", "data.max_eval_examples=4",
    ]
    out = run_experiment(None, data_dir=shared_data, out_dir=tmp_path / "run", overrides=overrides)
    train = stage_metrics(out, "intermediate-adapter-sst2-s0")["train"]
    n, correct = 200, round(train["best_dev_score"] * 200)
    p_value = sum(math.comb(n, k) for k in range(correct, n + 1)) / 2 ** n
    assert p_value < 1e-4, f"{correct}/{n} correct on SST-2 dev"


def test_every_xtreme_kind_on_the_real_files(shared_data, embedded_dir, tmp_path):
    """Tagging, QA and retrieval read the real XTREME files and run end to end (tiny budgets)."""
    overrides = [
        "target_task=[udpos, panx, xquad, tatoeba]", "languages=[en, de, zh]", "strategies=[none]",
        "max_seq_length=64", "train.target_steps=2", "train.batch_size=4", "data.max_train_examples=32",
        "data.max_dev_examples=8", "data.max_eval_examples=8",
    ]
    out = run_experiment(None, data_dir=shared_data, out_dir=tmp_path / "run", overrides=overrides)
    records = json.loads((out / "results.json").read_text())
    got = {(r["task"], r["language"]) for r in records}
    assert got == {("udpos", "en"), ("udpos", "de"), ("udpos", "zh"), ("panx", "en"), ("panx", "de"), ("panx", "zh"),
                   ("xquad", "en"), ("xquad", "de"), ("xquad", "zh"), ("tatoeba", "de"), ("tatoeba", "zh")}
    de_pos = next(r for r in records if r["task"] == "udpos" and r["language"] == "de")
    assert de_pos["n"] == 8 and de_pos["split"] == "test"  # German from the UD German-GSD CoNLL-U file
    # the embedded encoder retrieves Tatoeba translations far above chance (1 in 8) with no training
    tatoeba = [r["value"] for r in records if r["task"] == "tatoeba"]
    assert min(tatoeba) > 50
    assert "XTREME summary" in (out / "results.md").read_text()


def test_bucc_mines_the_real_zh_files_with_a_threshold_from_held_apart_sources(shared_data, embedded_dir, tmp_path):
    """BUCC zh-en from the local files: a 400-sentence sample keeps the file's share of sentences with
    a gold partner (about 3%), half of them choose the threshold and the other half are scored."""
    overrides = ["target_task=bucc", "languages=[zh]", "strategies=[none]", "max_seq_length=64",
                 "data.max_eval_examples=400"]
    out = run_experiment(None, data_dir=shared_data, out_dir=tmp_path / "run", overrides=overrides)
    records = json.loads((out / "results.json").read_text())
    assert [(r["task"], r["language"], r["n"]) for r in records] == [("bucc", "zh", 200)]
    # mining from the untrained encoder finds real translations: far above the F1 of extracting nothing (0)
    assert records[0]["value"] > 30, records
