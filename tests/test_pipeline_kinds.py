"""Several XTREME target tasks of every kind in one run, on a tiny model and tiny data."""

import json

import pytest
import yaml

from adaptx import pipeline
from tiny_data import write_tiny_data
from tiny_xtreme import write_tiny_xtreme


@pytest.fixture
def run(tmp_path, tiny_model_dir, adaptx_home):
    data = write_tiny_xtreme(write_tiny_data(tmp_path / "data"))
    config = {
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"],
        "target_task": ["xnli", "udpos", "panx", "xquad", "tatoeba", "bucc"],
        "strategies": ["none", "stack", "full"], "max_seq_length": 32,
        "train": {"intermediate_steps": 2, "target_steps": 3, "batch_size": 4, "checkpoint_every": 2},
        "data": {"max_eval_examples": 8, "max_dev_examples": 6},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, data, tmp_path / "run"


def test_every_kind_in_one_run_with_an_xtreme_summary(run, capsys):
    config, data, out = run
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    printed = capsys.readouterr().out
    records = json.loads((out / "results.json").read_text())
    by_task = {}
    for r in records:
        by_task.setdefault(r["task"], set()).add((r["strategy"], r["intermediate"], r["metric"]))
    assert set(by_task) == {"xnli", "udpos", "panx", "xquad", "tatoeba", "bucc"}
    assert {m for _, _, m in by_task["xquad"]} == {"squad_f1", "squad_em"}
    assert {m for _, _, m in by_task["udpos"]} == {"token_accuracy", "xtreme_pos_f1"}
    assert {m for _, _, m in by_task["tatoeba"]} == {"tatoeba_en_to_xx", "tatoeba_xx_to_en"}
    assert {(s, i) for s, i, _ in by_task["tatoeba"]} == {("none", None), ("stack", "qqp"), ("full", "qqp")}
    # languages with local data are scored; the rest are reported missing, never dropped silently
    langs = {t: {r["language"] for r in records if r["task"] == t} for t in by_task}
    assert langs["udpos"] == {"en", "fr", "de"} and langs["panx"] == {"en", "fr", "de"}
    assert langs["tatoeba"] == {"de", "fr"} and langs["bucc"] == {"zh"} and langs["xquad"] == {"en", "de"}
    table = (out / "results.md").read_text()
    assert "missing (no udpos evaluation data in this source): af, ar" in table
    assert "## XTREME summary" in table and "| strategy | xnli | udpos | panx | xquad | tatoeba | bucc |" in table
    assert "structured avg" in table and "overall" in table
    # retrieval trains nothing: its stages hold evaluations only
    tatoeba = next((out / "stages").glob("target-tatoeba-stack-qqp-s0-*"))
    assert json.loads((tatoeba / "metrics.json").read_text())["train"] is None and not (tatoeba / "model").exists()
    assert "not applicable without target training: bucc full-none" not in printed  # full-none not asked for
    # the identical Tatoeba sentences are found by the plain encoder, in both directions
    none = [r for r in records if r["task"] == "tatoeba" and r["strategy"] == "none"]
    assert all(r["value"] == 100.0 for r in none)
    # the local QA training data is named
    assert "locally, QA trains on TyDiQA-GoldP's English train file" in printed
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    again = capsys.readouterr().out
    assert not [line for line in again.splitlines() if line.startswith("+ ")]  # nothing trained again
    assert again.count("done before, skipped") == len(list((out / "stages").iterdir()))


def test_retrieval_alone_needs_no_intermediate_task(run, capsys):
    """The plain base encoder is a valid retrieval baseline: target tatoeba, strategy none."""
    config, data, out = run
    pipeline.run_experiment(config, data_dir=data, out_dir=out,
                            overrides=["target_task=tatoeba", "strategies=[none]", "intermediate_tasks=[]"])
    records = json.loads((out / "results.json").read_text())
    assert {r["language"] for r in records} == {"de", "fr"} and {r["strategy"] for r in records} == {"none"}
    assert not any(p.name.startswith("intermediate") for p in (out / "stages").iterdir())


def test_a_task_without_any_local_evaluation_data_is_a_clear_error(run):
    from adaptx.errors import AdaptxError

    config, data, out = run
    with pytest.raises(AdaptxError, match=r"tydiqa: no language has evaluation data in the local source"):
        pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["target_task=tydiqa"])
    assert not out.exists()


def test_report_in_a_fresh_process_scores_a_retrieval_run(tmp_path, tiny_model_dir, adaptx_home):
    """`adaptx report` imports only what reporting needs: the retrieval metrics must still be known there."""
    import os
    import subprocess
    import sys

    data = write_tiny_xtreme(write_tiny_data(tmp_path / "data"))
    config = {"base_model": str(tiny_model_dir), "target_task": ["tatoeba", "bucc"], "strategies": ["none"],
              "max_seq_length": 32, "data": {"max_eval_examples": 8}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    out = pipeline.run_experiment(path, data_dir=data, out_dir=tmp_path / "run")
    result = subprocess.run([sys.executable, "-m", "adaptx", "report", str(out)], capture_output=True, text=True,
                            env={**os.environ, "ADAPTX_HOME": str(adaptx_home)})
    assert result.returncode == 0, result.stderr
    assert "tatoeba" in result.stdout and "bucc" in result.stdout
    assert "unknown metric" not in result.stdout + result.stderr
