"""Strategies wire exactly the right parameters, and saved models reload to identical predictions."""

import pytest
import torch

from adaptx.errors import AdaptxError
from adaptx.modeling import Setup, build_model, load_model, save_model
from adaptx.models import config_fingerprint, load_encoder


@pytest.fixture
def fresh(tiny_model_dir):
    def load(folder=None):
        return load_encoder(str(folder or tiny_model_dir))
    return load


def fingerprint(encoder):
    return config_fingerprint(encoder.config)


@pytest.fixture
def inter_dirs(fresh, tmp_path):
    """Two trained-looking intermediate adapters saved as adaptx would save them."""
    dirs = {}
    for i, name in enumerate(["qqp", "sst2"]):
        torch.manual_seed(i)
        enc = fresh()
        model = build_model(enc, Setup("intermediate", 2, own_adapter=name, base_fingerprint=fingerprint(enc)))
        with torch.no_grad():
            for p in model.trainable_parameters().values():
                p.add_(torch.randn_like(p) * 0.1)
        save_model(model, tmp_path / name)
        dirs[name] = tmp_path / name / f"adapter-{name}"
    return dirs


def counts(model):
    enc = sum(p.numel() for p in model.encoder.parameters() if p.requires_grad)
    head = sum(p.numel() for p in model.head.parameters() if p.requires_grad)
    return enc, head


def adapter_size(model, name):
    return sum(p.numel() for n, p in model.encoder.named_parameters() if f"adapters.{name}." in n)


def test_none_trains_only_the_target_adapter_and_head(fresh):
    enc = fresh()
    model = build_model(enc, Setup("none", 3, own_adapter="xnli", base_fingerprint=fingerprint(enc)))
    enc_trainable, head = counts(model)
    assert enc_trainable == adapter_size(model, "xnli") > 0
    assert head == sum(p.numel() for p in model.head.parameters())
    names = model.trainable_parameters()
    assert all("adapters.xnli." in n or n.startswith("head.") for n in names)


def test_stack_freezes_the_intermediate_adapter(fresh, inter_dirs):
    enc = fresh()
    setup = Setup("stack", 3, own_adapter="xnli", frozen_adapters=["qqp"], base_fingerprint=fingerprint(enc))
    model = build_model(enc, setup, inter_dirs)
    enc_trainable, _ = counts(model)
    assert adapter_size(model, "qqp") > 0
    assert enc_trainable == adapter_size(model, "xnli")
    assert str(model.encoder.active_adapters) == "Stack[qqp, xnli]"


def test_fuse_trains_fusion_and_head_only(fresh, inter_dirs):
    enc = fresh()
    setup = Setup("fuse", 3, frozen_adapters=["qqp", "sst2"], fusion=["qqp", "sst2"], base_fingerprint=fingerprint(enc))
    model = build_model(enc, setup, inter_dirs)
    trainable = model.trainable_parameters()
    fusion = [n for n in trainable if "adapter_fusion_layer.qqp,sst2." in n]
    assert fusion and all(n in fusion or n.startswith("head.") for n in trainable)
    assert not any("adapters.qqp." in n or "adapters.sst2." in n for n in trainable)


def test_fuse_with_target_adapter(fresh, inter_dirs):
    enc = fresh()
    setup = Setup("fuse", 3, own_adapter="xnli", frozen_adapters=["qqp", "sst2"], fusion=["qqp", "sst2"],
                  base_fingerprint=fingerprint(enc))
    model = build_model(enc, setup, inter_dirs)
    trainable = model.trainable_parameters()
    assert any("adapters.xnli." in n for n in trainable)
    assert any("adapter_fusion_layer" in n for n in trainable)
    assert str(model.encoder.active_adapters) == "Stack[Fuse[qqp, sst2], xnli]"


def test_full_trains_everything(fresh):
    model = build_model(fresh(), Setup("full-none", 3))
    assert sum(p.numel() for p in model.trainable_parameters().values()) == sum(p.numel() for p in model.parameters())


def test_adapter_from_another_base_is_refused(fresh, inter_dirs):
    enc = fresh()
    other = dict(fingerprint(enc), hidden_size=1024)
    setup = Setup("stack", 3, own_adapter="xnli", frozen_adapters=["qqp"], base_fingerprint=other)
    with pytest.raises(AdaptxError, match="different base model .*hidden_size: adapter 32 vs base 1024"):
        build_model(enc, setup, inter_dirs)


def test_missing_adapter_folder(fresh, tmp_path):
    enc = fresh()
    setup = Setup("stack", 3, own_adapter="xnli", frozen_adapters=["qqp"], base_fingerprint=fingerprint(enc))
    with pytest.raises(AdaptxError, match="not an adaptx adapter folder"):
        build_model(enc, setup, {"qqp": tmp_path / "nope"})


@pytest.mark.parametrize("strategy", ["none", "stack", "fuse", "fuse+target", "full-none"])
def test_save_load_round_trip_reproduces_predictions(strategy, fresh, inter_dirs, tmp_path, tiny_model_dir):
    enc = fresh()
    fp = fingerprint(enc)
    setup = {
        "none": Setup("none", 3, own_adapter="xnli", base_fingerprint=fp, pooling="mean"),
        "stack": Setup("stack", 3, own_adapter="xnli", frozen_adapters=["qqp"], base_fingerprint=fp),
        "fuse": Setup("fuse", 3, frozen_adapters=["qqp", "sst2"], fusion=["qqp", "sst2"], base_fingerprint=fp),
        "fuse+target": Setup("fuse", 3, own_adapter="xnli", frozen_adapters=["qqp", "sst2"],
                             fusion=["qqp", "sst2"], base_fingerprint=fp),
        "full-none": Setup("full-none", 3),
    }[strategy]
    torch.manual_seed(1)
    model = build_model(enc, setup, inter_dirs)
    with torch.no_grad():  # move every trainable weight away from its initial value
        for p in model.trainable_parameters().values():
            p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    ids = torch.tensor([[0, 5, 6, 7, 2, 1], [0, 19, 15, 16, 17, 2]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
    with torch.inference_mode():
        before = model(ids, mask)
    save_model(model, tmp_path / "saved")
    loaded = load_model(tmp_path / "saved", lambda folder: fresh(folder), inter_dirs)
    with torch.inference_mode():
        after = loaded(ids, mask)
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_bf16_base_keeps_fp32_adapters_and_head_and_trains(fresh, inter_dirs, tiny_model_dir):
    enc = load_encoder(str(tiny_model_dir), "bf16")
    setup = Setup("stack", 3, own_adapter="xnli", frozen_adapters=["qqp"], base_fingerprint=fingerprint(enc))
    model = build_model(enc, setup, inter_dirs, autocast_dtype=torch.bfloat16)
    params = dict(model.named_parameters())
    assert params["encoder.embeddings.word_embeddings.weight"].dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.trainable_parameters().values())
    ids = torch.tensor([[0, 5, 6, 7, 2]])
    loss = model(ids, torch.ones_like(ids)).float().logsumexp(-1).sum()
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.trainable_parameters().values())
