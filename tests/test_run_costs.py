"""scripts/run_costs.py: each finished stage's training and evaluation seconds, recorded or read from
file times with pauses capped."""

import importlib.util
import json
import os
from pathlib import Path

import yaml

from adaptx.cli import main
from tiny_data import write_tiny_data

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run_costs.py"
spec = importlib.util.spec_from_file_location("run_costs", SCRIPT)
run_costs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_costs)


def _stage(run: Path, name: str, train_s: float, finished: float, evals: dict) -> Path:
    folder = run / "stages" / name
    (folder / "eval").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"stage": name.rsplit("-", 1)[0], "status": "done",
                                                      "seconds": train_s, "finished": finished}))
    for lang, (mtime, seconds) in evals.items():
        path = folder / "eval" / f"{lang}-test-abc.json"
        entry = {"split": "test", "n": 3, "scores": {"accuracy": 0.5}}
        if seconds is not None:
            entry["seconds"] = seconds
        path.write_text(json.dumps({lang: entry}))
        os.utime(path, (mtime, mtime))
    return folder


def test_recorded_seconds_are_summed_and_file_times_have_their_pauses_capped(tmp_path, capsys):
    run = tmp_path / "runs" / "study"
    _stage(run, "target-xnli-none-s0-aaa", 100.0, 1000.0, {"en": (0, 20.0), "de": (0, 30.0)})
    # 10 s after training, then 10 s, then a 500 s pause (counted as the median gap, 10 s), then 10 s
    _stage(run, "target-xnli-stack-qqp-s0-bbb", 50.0, 1000.0,
           {"en": (1010, None), "de": (1020, None), "fr": (1520, None), "ru": (1530, None)})
    running = _stage(run, "target-xnli-stack-sst2-s0-ccc", 10.0, 0.0, {})
    (running / "manifest.json").write_text(json.dumps({"stage": "x", "status": "running"}))
    rows = {row["stage"]: row for row in run_costs.stage_costs(run)}
    assert set(rows) == {"target-xnli-none-s0", "target-xnli-stack-qqp-s0"}  # the running stage is left out
    assert rows["target-xnli-none-s0"]["eval_s"] == 50.0 and not rows["target-xnli-none-s0"]["estimated"]
    assert rows["target-xnli-stack-qqp-s0"]["eval_s"] == 40.0 and rows["target-xnli-stack-qqp-s0"]["estimated"]
    assert run_costs.main([str(run)]) == 0
    printed = capsys.readouterr().out
    assert "2 finished stages: training 0.04 h, evaluation 0.03 h, together 0.07 h; ~: evaluation read" in printed
    assert run_costs.main([str(tmp_path)]) == 2
    assert "not a run folder (no stages/)" in capsys.readouterr().err


def test_a_stage_resumed_in_a_later_process_counts_every_processs_training(tmp_path):
    run = tmp_path / "runs" / "study"
    folder = _stage(run, "target-xnli-none-s0-aaa", 900.0, 1000.0, {"en": (0, 20.0)})  # the last process only
    (folder / "metrics.json").write_text(json.dumps({"train": {"train_seconds": 4200.0}}))
    other = _stage(run, "target-xnli-stack-qqp-s0-bbb", 300.0, 1000.0, {"en": (0, 20.0)})
    (other / "metrics.json").write_text(json.dumps({"train": None}))  # an evaluation-only stage's metrics
    rows = {row["stage"]: row["train_s"] for row in run_costs.stage_costs(run)}
    assert rows == {"target-xnli-none-s0": 4200.0, "target-xnli-stack-qqp-s0": 300.0}


def test_a_run_records_each_languages_evaluation_seconds(tmp_path, tiny_model_dir, adaptx_home, capsys):
    data = write_tiny_data(tmp_path / "data")
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "base_model": str(tiny_model_dir), "intermediate_tasks": [], "target_task": "xnli",
        "languages": ["en", "de"], "strategies": ["none"], "max_seq_length": 16,
        "train": {"target_steps": 2, "batch_size": 4}, "data": {"max_eval_examples": 6, "max_dev_examples": 6}}))
    out = tmp_path / "run"
    assert main(["run", str(config), "--data-dir", str(data), "--out", str(out)]) == 0
    files = list(out.glob("stages/*/eval/*.json"))
    assert len(files) == 2
    for path in files:
        (entry,) = json.loads(path.read_text()).values()
        assert entry["seconds"] > 0
    capsys.readouterr()
    assert run_costs.main([str(out), "--markdown"]) == 0
    printed = capsys.readouterr().out
    assert "| run | stage | training s | evaluation s | hours |" in printed and "~" not in printed
