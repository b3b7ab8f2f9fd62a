"""Issue 32: a tiny MLQA run records each example's question id, and the results table and the
analysis resample MLQA's languages jointly by them."""

import json

import yaml

from adaptx import pipeline
from adaptx.analysis.analyze import analyze
from tiny_data import write_tiny_data
from tiny_xtreme import write_tiny_xtreme


def test_an_mlqa_run_records_question_ids_and_is_resampled_by_them(tmp_path, tiny_model_dir, adaptx_home, capsys):
    data = write_tiny_xtreme(write_tiny_data(tmp_path / "data"))
    config = {"base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"], "target_task": "mlqa",
              "strategies": ["none"], "seeds": [0], "max_seq_length": 32,
              "train": {"intermediate_steps": 2, "target_steps": 3, "batch_size": 4, "checkpoint_every": 2},
              "data": {"max_eval_examples": 8, "max_dev_examples": 2}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    pipeline.run_experiment(path, data_dir=data, out_dir=out)
    entries = [entry for f in out.glob("stages/*/eval/*.json") for entry in json.loads(f.read_text()).values()]
    assert entries and all(len(e["items"]) == len(e["ids"]) and e["items"][0].startswith("ml") for e in entries)
    assert "examples resampled jointly across the languages that evaluate the same items translated: en, de" \
        in capsys.readouterr().out
    a = analyze([out], tmp_path / "analysis", resamples=50, draw_plots=False)
    assert not any("do not record" in m for m in a.messages)
