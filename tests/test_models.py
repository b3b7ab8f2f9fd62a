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


def test_hub_identity_is_the_id_and_the_commit(tiny_model_dir):
    base = load_base_model(str(tiny_model_dir), weights=False)
    base.source = "FacebookAI/xlm-roberta-large"  # as if resolved from the hub cache
    base.config._commit_hash = "c0ffee"
    identity = base.identity()
    assert identity["hub_id"] == "FacebookAI/xlm-roberta-large" and identity["revision"] == "c0ffee"


def test_local_identity_is_a_checksum_of_the_weights(tiny_model_dir, tmp_path, adaptx_home):
    import shutil

    first = load_base_model(str(tiny_model_dir), weights=False).identity()
    copy = tmp_path / "renamed-copy"
    shutil.copytree(tiny_model_dir, copy)
    assert load_base_model(str(copy), weights=False).identity() == first  # same weights, any name
    from safetensors.torch import load_file, save_file

    weights = load_file(str(copy / "model.safetensors"))
    key = sorted(weights)[0]
    weights[key] = weights[key] + 1
    save_file(weights, str(copy / "model.safetensors"), metadata={"format": "pt"})
    assert load_base_model(str(copy), weights=False).identity() != first


def test_learning_rate_family_is_found_by_architecture_not_name():
    from types import SimpleNamespace

    from adaptx.models import PAPER_RATES, base_family

    e5 = SimpleNamespace(model_type="bert", hidden_size=384, num_hidden_layers=12, vocab_size=250037)
    name, rates = base_family(e5)  # embedded, its export and intfloat/multilingual-e5-small all look like this
    assert name == "multilingual-e5-small" and rates["lr_adapter"] == 1e-3
    large = SimpleNamespace(model_type="xlm-roberta", hidden_size=1024, num_hidden_layers=24, vocab_size=250002)
    assert base_family(large) == ("xlm-roberta-large", PAPER_RATES)
    assert base_family(SimpleNamespace(model_type="bert", hidden_size=32, num_hidden_layers=2, vocab_size=28)) == (
        None, PAPER_RATES)


def test_folder_without_weights_fails_before_anything_runs(tiny_model_dir, tmp_path):
    import shutil

    broken = tmp_path / "no-weights"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(AdaptxError, match=r"no-weights has a config.json but no weights"):
        load_base_model(str(broken), weights=False)


def test_tokenizer_without_pad_token(tiny_model_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "no-pad"
    shutil.copytree(tiny_model_dir, folder)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        if path.is_file():
            data = json.loads(path.read_text())
            data["pad_token"] = None  # XLM-R tokenizers default to <pad> when the key is absent
            path.write_text(json.dumps(data))
    tok = json.loads((folder / "tokenizer.json").read_text())
    tok["padding"] = None
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(AdaptxError, match=r"has no pad token"):
        load_base_model(str(folder), weights=False)


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
    with pytest.raises(AdaptxError, match="expected one of fp32, bf16, fp16, auto"):
        resolve_dtype("fp8")


@pytest.mark.parametrize("flags, expected", [
    ({"avx2", "avx512f", "avx512_core"}, "fp32"),  # torch reports bf16 here, but the hardware emulates it
    ({"avx2", "avx512f", "avx512_bf16"}, "bf16"),
    ({"avx2", "amx_tile", "amx_bf16"}, "bf16"),
    ({"avx2"}, "fp32"),
    (set(), "fp32"),  # flags unreadable: never assume bf16
])
def test_auto_dtype_trusts_only_native_bf16_flags(flags, expected, monkeypatch):
    from adaptx import models, runtime

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "cpu_flags", lambda: flags)
    dtype, reason = models.resolve_dtype_with_reason("auto")
    assert dtype == expected
    if expected == "bf16":
        assert ("avx512_bf16" if "avx512_bf16" in flags else "amx_bf16") in reason


def test_random_xlm_roberta_large_has_the_real_shape_and_takes_adapters(embedded_dir):
    """The XLM-R-Large-sized path offline: 24 x 1024, XLM-R's vocabulary, a 3.17M-parameter adapter."""
    from adaptx.modeling import Setup, build_model

    base = load_base_model("random:xlm-roberta-large", dtype="bf16")
    config = base.config
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (24, 1024, 16)
    assert config.vocab_size >= 250002 and base.family[0] == "xlm-roberta-large"
    assert base.identity()["random"] == "random:xlm-roberta-large"
    model = build_model(base.model, Setup("none", 3, own_adapter="xnli", base_fingerprint=base.fingerprint),
                        autocast_dtype=torch.bfloat16)
    adapter = sum(p.numel() for n, p in model.trainable_parameters().items() if not n.startswith("head."))
    total = sum(p.numel() for p in model.parameters())
    assert adapter == 24 * (1024 * 64 + 64 + 64 * 1024 + 1024)  # seq_bn, reduction factor 16: 3.17M
    assert sum(p.numel() for p in model.trainable_parameters().values()) / total < 0.01
    ids = base.tokenizer(["Hallo Welt", "你好"], return_tensors="pt", padding=True)
    assert model(ids["input_ids"], ids["attention_mask"]).shape == (2, 3)


def test_random_base_is_seeded_and_refused_by_runs_unless_allowed(tmp_path, tiny_model_dir, adaptx_home):
    import json

    from adaptx.errors import AdaptxError
    from adaptx.pipeline import run_experiment
    from tiny_data import write_tiny_data

    config = json.loads((tiny_model_dir / "config.json").read_text())
    spec = tmp_path / "tiny-config.json"
    spec.write_text(json.dumps({k: config[k] for k in ("model_type", "hidden_size", "num_hidden_layers",
                                                        "num_attention_heads", "intermediate_size",
                                                        "max_position_embeddings", "vocab_size")}))
    from adaptx.models import load_encoder

    first, second = load_encoder(f"random:{spec}"), load_encoder(f"random:{spec}")
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)
    data = write_tiny_data(tmp_path / "data")
    overrides = [f"base_model=random:{spec}", "strategies=[none]", "languages=[en]", "train.target_steps=1",
                 "train.batch_size=4", "max_seq_length=16"]
    with pytest.raises(AdaptxError, match=r"has random weights: it is for benchmarks and tests only.*allow_random_base"):
        run_experiment(None, data_dir=data, out_dir=tmp_path / "run", overrides=overrides)
    assert not (tmp_path / "run").exists()
    out = run_experiment(None, data_dir=data, out_dir=tmp_path / "run", overrides=overrides + ["allow_random_base=true"])
    assert (out / "results.json").is_file()
    with pytest.raises(AdaptxError, match=r"unknown architecture 'gpt-9'"):
        load_base_model("random:gpt-9", weights=False)
