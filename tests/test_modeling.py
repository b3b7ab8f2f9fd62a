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


def test_a_full_model_saved_in_bf16_is_half_the_file_and_the_model_in_memory_equals_its_reload(fresh, tmp_path):
    from safetensors import safe_open

    enc = fresh()
    model = build_model(enc, Setup("full-none", 3))
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.trainable_parameters().values():
            p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    ids, mask = torch.tensor([[0, 5, 6, 7, 2, 1]]), torch.tensor([[1, 1, 1, 1, 1, 0]])
    with torch.inference_mode():
        unrounded = model(ids, mask)
    save_model(model, tmp_path / "fp32")
    save_model(model, tmp_path / "bf16", full_dtype="bf16")
    with torch.inference_mode():
        rounded = model(ids, mask)
    assert not torch.equal(rounded, unrounded)  # the weights in memory were rounded...
    loaded = load_model(tmp_path / "bf16", lambda folder: fresh(folder))
    with torch.inference_mode():
        torch.testing.assert_close(loaded(ids, mask), rounded, rtol=0, atol=0)  # ...to exactly what a reload gives
    assert all(p.dtype == torch.float32 for p in loaded.encoder.parameters())  # trained on in fp32 master weights
    files = {d: next((tmp_path / d / "encoder").glob("*.safetensors")) for d in ("fp32", "bf16")}
    with safe_open(str(files["bf16"]), "pt") as f:
        assert {str(f.get_slice(k).get_dtype()) for k in f.keys()} == {"BF16"}
    ratio = files["bf16"].stat().st_size / files["fp32"].stat().st_size
    assert 0.45 < ratio < 0.55


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_a_full_model_with_frozen_embeddings_saves_without_them_and_reloads_over_the_base(dtype, fresh, tmp_path,
                                                                                        tiny_model_dir):
    from adaptx.models import saved_encoder_loader

    enc = fresh()
    base_embeddings = enc.get_input_embeddings().weight.detach().clone()
    model = build_model(enc, Setup("full-none", 3, frozen_embeddings=True))
    frozen = [n for n, p in model.encoder.named_parameters() if not p.requires_grad]
    assert frozen == ["embeddings.word_embeddings.weight"]  # everything else trains, as in full fine-tuning
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.trainable_parameters().values():
            p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    save_model(model, tmp_path / "full", full_dtype=dtype)
    ids, mask = torch.tensor([[0, 5, 6, 7, 2, 1]]), torch.tensor([[1, 1, 1, 1, 1, 0]])
    with torch.inference_mode():
        in_memory = model(ids, mask)
    assert torch.equal(model.encoder.get_input_embeddings().weight, base_embeddings)  # never rounded: not saved
    folder = tmp_path / "full" / "encoder"
    from safetensors import safe_open
    with safe_open(str(next(folder.glob("*.safetensors"))), "pt") as f:
        assert "embeddings.word_embeddings.weight" not in f.keys() and "encoder.layer.0.output.dense.weight" in f.keys()
    loaded = load_model(tmp_path / "full", saved_encoder_loader(str(tiny_model_dir), "fp32"))
    with torch.inference_mode():
        torch.testing.assert_close(loaded(ids, mask), in_memory, rtol=0, atol=0)
    # a loader that does not know the base says what to use instead of loading random embeddings
    with pytest.raises(AdaptxError, match="holds only the tensors training changed .*adaptx.load, adaptx predict"):
        load_encoder(str(folder))
    # a base whose tensors do not fit is refused by name
    (folder / "from-base.json").write_text('{"tensors": ["embeddings.position_embeddings.weight"]}')
    with pytest.raises(AdaptxError, match="do not fit the base model"):
        load_encoder(str(folder), base=str(tiny_model_dir))


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


# -- AdapterFusion as Pfeiffer et al. define it ------------------------------------------------

def fusion_setup(enc, names=("qqp", "sst2"), **settings):
    from adaptx.compositions.fusion import FusionSettings

    config = FusionSettings(**settings).library_settings()
    return Setup("fuse", 3, frozen_adapters=list(names), fusion=list(names), fusion_config=config,
                 base_fingerprint=fingerprint(enc))


def value_matrices(model):
    return [layer.value.weight for layer in model._fusion_layers()]


def test_fusion_regularizer_is_the_libraries_identity_penalty(fresh, inter_dirs):
    enc = fresh()
    model = build_model(enc, fusion_setup(enc), inter_dirs)
    with torch.no_grad():
        for v in value_matrices(model):
            v.add_(torch.randn_like(v) * 0.1)
    eye = torch.eye(enc.config.hidden_size)
    expected = sum(0.01 * (eye - v).pow(2).sum() for v in value_matrices(model))
    loss = model.regularization_loss()
    assert loss is not None and len(value_matrices(model)) == enc.config.num_hidden_layers
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in value_matrices(model))


@pytest.mark.parametrize("settings", [{"regularization": False}, {"preset": "static"}])
def test_no_regularizer_when_switched_off_or_without_value_matrix(fresh, inter_dirs, settings):
    enc = fresh()
    assert build_model(enc, fusion_setup(enc, **settings), inter_dirs).regularization_loss() is None


def test_regularizer_keeps_the_value_matrix_nearer_identity(fresh, inter_dirs, tmp_path):
    from adaptx.train import TrainJob, train_model
    from helpers import Encoded

    g = torch.Generator().manual_seed(0)
    ids = [[0] + torch.randint(4, 24, (6,), generator=g).tolist() + [2] for _ in range(32)]
    data = Encoded(ids, [row[1] % 3 for row in ids])
    distances = {}
    for regularization in (True, False):
        enc = fresh()
        torch.manual_seed(0)
        model = build_model(enc, fusion_setup(enc, regularization=regularization), inter_dirs)
        job = TrainJob(steps=20, lr=2e-2, batch_size=8, seed=0, eval_every=20, checkpoint_every=20)
        summary = train_model(model, data, data, job, 1, tmp_path / f"{regularization}.safetensors")
        assert summary["fusion_regularizer"] is regularization
        eye = torch.eye(enc.config.hidden_size)
        distances[regularization] = sum((v.detach() - eye).pow(2).sum().item() for v in value_matrices(model))
    assert distances[True] < 0.9 * distances[False]


def test_fusion_attention_runs_in_fp32_on_a_bf16_cpu_base(fresh, inter_dirs, tiny_model_dir):
    from adapters.methods.modeling import BertFusion

    ids = torch.tensor([[0, 5, 6, 7, 2, 1], [0, 19, 15, 16, 17, 2]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
    outputs = {}
    for dtype in ("fp32", "bf16"):
        enc = load_encoder(str(tiny_model_dir), dtype)
        torch.manual_seed(3)
        model = build_model(enc, fusion_setup(enc), inter_dirs, torch.bfloat16 if dtype == "bf16" else None).eval()
        seen = []
        for layer in model.encoder.modules():
            if isinstance(layer, BertFusion):  # registered after adaptx's hook: sees what the fusion sees
                layer.register_forward_pre_hook(
                    lambda m, args: seen.append((args[0].dtype, torch.is_autocast_enabled("cpu"))))
        with torch.inference_mode():
            outputs[dtype] = model(ids, mask).float()
        assert seen and all(s == (torch.float32, False) for s in seen)
    # the same weights: the bf16 base changes numbers only by bf16 rounding
    torch.testing.assert_close(outputs["bf16"], outputs["fp32"], rtol=0.05, atol=0.02)
    assert torch.equal(outputs["bf16"].argmax(-1), outputs["fp32"].argmax(-1))


def test_fusion_temperature_moves_in_training_only_and_survives_save_load(fresh, inter_dirs, tmp_path):
    enc = fresh()
    model = build_model(enc, fusion_setup(enc, temperature=True), inter_dirs)
    ids, mask = torch.tensor([[0, 5, 6, 2]]), torch.ones(1, 4, dtype=torch.long)
    assert model.fusion_temperature() == 50.0
    model.train()
    model(ids, mask)
    model(ids, mask)
    trained_t = model.fusion_temperature()
    assert trained_t == pytest.approx(49.9)  # the library lowers T by 0.05 per forward
    model.eval()
    with torch.inference_mode():
        first = model(ids, mask)
        for _ in range(5):
            again = model(ids, mask)
    assert model.fusion_temperature() == trained_t
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    save_model(model, tmp_path / "saved")
    loaded = load_model(tmp_path / "saved", lambda folder: fresh(folder), inter_dirs)
    assert loaded.fusion_temperature() == trained_t


def test_fusion_with_the_target_adapter_and_a_new_one_on_top(fresh, inter_dirs, tmp_path):
    enc = fresh()
    target = build_model(enc, Setup("none", 3, own_adapter="xnli", base_fingerprint=fingerprint(enc)))
    save_model(target, tmp_path / "none")
    dirs = dict(inter_dirs, xnli=tmp_path / "none" / "adapter-xnli")
    enc = fresh()
    setup = fusion_setup(enc, names=("qqp", "sst2", "xnli"))
    setup.own_adapter = "xnli-top"
    model = build_model(enc, setup, dirs)
    assert str(model.encoder.active_adapters) == "Stack[Fuse[qqp, sst2, xnli], xnli-top]"
    trainable = model.trainable_parameters()
    assert any("adapters.xnli-top." in n for n in trainable)
    assert not any("adapters.xnli." in n or "adapters.qqp." in n for n in trainable)


@pytest.mark.parametrize("strategy", ["stack", "fuse"])
def test_outputs_depend_on_the_intermediate_adapter_weights(strategy, fresh, inter_dirs, tmp_path):
    from safetensors.torch import load_file, save_file

    def run(dirs):
        enc = fresh()
        torch.manual_seed(5)
        setup = (Setup("stack", 3, own_adapter="xnli", frozen_adapters=["qqp"], base_fingerprint=fingerprint(enc))
                 if strategy == "stack" else fusion_setup(enc))
        with torch.inference_mode():
            return build_model(enc, setup, dirs).eval()(torch.tensor([[0, 5, 6, 7, 2]]), torch.ones(1, 5, dtype=torch.long))

    before = run(inter_dirs)
    changed = tmp_path / "qqp-changed"
    import shutil

    shutil.copytree(inter_dirs["qqp"], changed)
    weights_file = next(changed.glob("*.safetensors"))
    weights = load_file(str(weights_file))
    save_file({k: v + 0.5 for k, v in weights.items()}, str(weights_file))
    after = run(dict(inter_dirs, qqp=changed))
    assert not torch.allclose(before, after, atol=1e-4)
