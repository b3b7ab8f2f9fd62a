import pytest
import torch

from adaptx.errors import AdaptxError
from adaptx.models import load_base_model, resolve_dtype, resolve_source


def test_local_folder(tiny_model_dir):
    base = load_base_model(str(tiny_model_dir))
    assert base.model.config.hidden_size == 32
    assert base.model.pooler is None  # encoder only: heads are adaptx's
    assert base.tokenizer.is_fast and base.dtype == "fp32"
    assert base.fingerprint == {"hidden_size": 32, "num_hidden_layers": 2, "vocab_size": 28, "model_type": "bert"}
    out = base.model(**base.tokenizer(["the cat sat"], return_tensors="pt")).last_hidden_state
    assert out.shape == (1, 5, 32)


def test_tokenizer_and_config_only(tiny_model_dir):
    base = load_base_model(str(tiny_model_dir), weights=False)
    assert base.model is None and base.tokenizer.is_fast
    assert base.fingerprint == load_base_model(str(tiny_model_dir)).fingerprint


def test_bf16_and_gradient_checkpointing(tiny_model_dir):
    base = load_base_model(str(tiny_model_dir), dtype="bf16", gradient_checkpointing=True)
    assert base.dtype == "bf16"
    assert all(p.dtype == torch.bfloat16 for p in base.model.parameters())
    assert base.model.is_gradient_checkpointing


def test_embedded_name_resolves_through_the_cache(tiny_source):
    source = resolve_source("embedded")
    assert (tiny_source.parent / "home" / "embedded").is_dir()
    assert load_base_model("embedded").model.config.hidden_size == 32
    assert source.startswith(str(tiny_source.parent / "home"))


def test_hub_id_passes_through():
    assert resolve_source("xlm-roberta-large") == "xlm-roberta-large"
    assert resolve_source("FacebookAI/xlm-roberta-large") == "FacebookAI/xlm-roberta-large"


@pytest.mark.parametrize("name, match", [
    ("", "non-empty"),
    ("./no/such/folder", "does not exist"),
    ("no-such-model-anywhere-xyz", "cannot load base model 'no-such-model-anywhere-xyz'"),
])
def test_bad_names(name, match, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AdaptxError, match=match):
        load_base_model(name)


def test_folder_without_config(tmp_path):
    with pytest.raises(AdaptxError, match="no config.json"):
        resolve_source(str(tmp_path))


def test_bad_dtype():
    with pytest.raises(AdaptxError, match="expected one of fp32, bf16, auto"):
        resolve_dtype("fp16")
    assert resolve_dtype("auto") in ("fp32", "bf16")
