"""AdapterFusion attention per layer: recorded during evaluation without changing predictions, equal
to what the `adapters` library itself returns, and drawn by the analysis every `adaptx run` writes."""

import csv
import json

import numpy as np
import pytest
import torch
import yaml

from adaptx import pipeline
from adaptx.fusion_attention import recording
from adaptx.modeling import Setup, build_model, save_model
from adaptx.models import config_fingerprint, load_encoder
from tiny_data import write_tiny_data

IDS = torch.tensor([[0, 5, 6, 7, 2, 1, 1], [0, 19, 15, 16, 17, 18, 2]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]])


@pytest.fixture
def fusion_model(tiny_model_dir, tmp_path):
    def build(dtype="fp32"):
        dirs = {}
        for i, name in enumerate(["qqp", "sst2"]):
            torch.manual_seed(i)
            enc = load_encoder(str(tiny_model_dir))
            model = build_model(enc, Setup("intermediate", 2, own_adapter=name, base_fingerprint=config_fingerprint(enc.config)))
            with torch.no_grad():
                for p in model.trainable_parameters().values():
                    p.add_(torch.randn_like(p) * 0.1)
            save_model(model, tmp_path / name)
            dirs[name] = tmp_path / name / f"adapter-{name}"
        enc = load_encoder(str(tiny_model_dir), dtype)
        torch.manual_seed(3)
        setup = Setup("fuse", 3, frozen_adapters=["qqp", "sst2"], fusion=["qqp", "sst2"],
                      base_fingerprint=config_fingerprint(enc.config))
        model = build_model(enc, setup, dirs, torch.bfloat16 if dtype == "bf16" else None).eval()
        with torch.no_grad():  # a trained-looking fusion: attention away from uniform
            for name, p in model.named_parameters():
                if "adapter_fusion_layer" in name:
                    p.add_(torch.randn_like(p) * 0.3)
        return model
    return build


def test_recorded_weights_are_the_librarys_own_attention_averaged_over_real_tokens(fusion_model):
    model = fusion_model()
    with torch.inference_mode():
        with recording(model) as attention:
            model(IDS, MASK)
        own = model.encoder(input_ids=IDS, attention_mask=MASK, output_adapter_fusion_attentions=True)
    summary = attention.summary()
    assert summary["adapters"] == ["qqp", "sst2"] and summary["rows"] == 2
    layers = own.adapter_fusion_attentions["qqp,sst2"]
    assert [entry["layer"] for entry in summary["layers"]] == sorted(layers)
    mask = MASK.numpy()[..., None]
    for entry in summary["layers"]:
        probs = layers[entry["layer"]][entry["location"]]  # (rows, tokens, adapters)
        expected = ((probs * mask).sum(1) / mask.sum(1)).mean(0)
        np.testing.assert_allclose(entry["weights"], expected, atol=1e-6)
        assert sum(entry["weights"]) == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose([e["weights"] for e in summary["layers"]], 0.5, atol=0.01)  # not trivially uniform


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_recording_changes_no_prediction_and_leaves_no_hook(fusion_model, dtype):
    model = fusion_model(dtype)
    with torch.inference_mode():
        before = model(IDS, MASK)
        with recording(model) as attention:
            during = model(IDS, MASK)
        after = model(IDS, MASK)
    assert attention.summary() is not None
    assert torch.equal(before, during) and torch.equal(before, after) and during.dtype == before.dtype


def test_a_model_without_fusion_records_nothing(tiny_model_dir):
    enc = load_encoder(str(tiny_model_dir))
    model = build_model(enc, Setup("none", 3, own_adapter="xnli", base_fingerprint=config_fingerprint(enc.config)))
    with recording(model) as attention:
        model(IDS, MASK)
    assert attention is None


def test_every_run_ends_with_its_analysis_and_the_fusion_attention(tmp_path, tiny_model_dir, adaptx_home, capsys):
    data = write_tiny_data(tmp_path / "data")
    config = {"base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli",
              "languages": ["en", "de", "sw"], "strategies": ["none", "fuse"], "max_seq_length": 16,
              "train": {"intermediate_steps": 2, "target_steps": 3, "batch_size": 4, "checkpoint_every": 1},
              "data": {"max_eval_examples": 6, "max_dev_examples": 6}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    pipeline.run_experiment(tmp_path / "exp.yaml", data_dir=data, out_dir=out)
    fuse = next((out / "stages").glob("target-xnli-fuse-*"))
    for path in (fuse / "eval").glob("*.json"):
        lang = path.name.split("-")[0]
        summary = json.loads(path.read_text())[lang]["fusion_attention"]
        assert summary["rows"] == 6 and len(summary["layers"]) == 2  # the tiny model's layers
        assert all(sum(layer["weights"]) == pytest.approx(1, abs=1e-5) for layer in summary["layers"])
    assert not any("fusion_attention" in json.loads(p.read_text())[p.name.split("-")[0]]
                   for p in next((out / "stages").glob("target-xnli-none-*")).glob("eval/*.json"))
    analysis = out / "analysis"
    assert "adaptx: analysis and" in capsys.readouterr().out
    for name in ("analysis.md", "gains.csv", "fusion-attention.csv", "plots/scores-xnli.png",
                 "plots/fusion-attention-xnli-fuse_qqp+sst2.png", "plots/dev-curves.png"):
        assert (analysis / name).is_file(), name
    rows = list(csv.DictReader((analysis / "fusion-attention.csv").open()))
    assert {r["language"] for r in rows} == {"en", "de", "sw"} and {r["adapter"] for r in rows} == {"qqp", "sst2"}
    assert set(json.loads((fuse / "model" / "setup.json").read_text())["fusion"]) == {
        f"{t}-s0-{fuse_tag(fuse)}" for t in ("qqp", "sst2")}  # saved with seed and base tag, shown by role


def fuse_tag(stage) -> str:
    """The base tag in the fused adapters' saved names (from the stage's setup.json)."""
    return json.loads((stage / "model" / "setup.json").read_text())["fusion"][0].rsplit("-", 1)[1]
