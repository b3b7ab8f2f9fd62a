import pytest
import torch

from adaptx.errors import AdaptxError
from adaptx.modeling import Setup, build_model
from adaptx.models import load_encoder
from adaptx.train import TrainJob, batch_indices, predict, train_model
from helpers import Encoded, collate


def test_batches_are_a_pure_function_of_seed_and_step():
    lengths = [i % 17 + 1 for i in range(100)]
    first = [batch_indices(lengths, 8, seed=3, step=s) for s in range(13)]  # 13 batches = one epoch
    assert first == [batch_indices(lengths, 8, seed=3, step=s) for s in range(13)]
    assert sorted(i for b in first for i in b) == list(range(100))  # an epoch covers every example once
    assert first != [batch_indices(lengths, 8, seed=4, step=s) for s in range(13)]


def test_batches_group_similar_lengths():
    lengths = [1 + (i * 37) % 100 for i in range(400)]
    spreads = [max(lengths[i] for i in b) - min(lengths[i] for i in b)
               for b in (batch_indices(lengths, 8, 0, s) for s in range(50))]
    assert sum(spreads) / len(spreads) < 10  # random batches of 8 would spread ~75


def test_dynamic_padding():
    ids, mask = collate([[0, 5, 2], [0, 5, 6, 7, 2]], pad_id=1)
    assert ids.shape == (2, 5) and ids[0].tolist() == [0, 5, 2, 1, 1]
    assert mask.sum().item() == 8


def toy_data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = [[0] + torch.randint(4, 24, (int(torch.randint(2, 9, (1,), generator=g)),), generator=g).tolist() + [2]
           for _ in range(n)]
    labels = [int(row[1] % 3) for row in ids]  # learnable from the first token
    return Encoded(ids, labels)


def fresh_model(tiny_model_dir):
    torch.manual_seed(0)
    return build_model(load_encoder(str(tiny_model_dir)), Setup("none", 3, own_adapter="t", base_fingerprint={}))


def job(**kw):
    base = dict(steps=12, lr=5e-3, batch_size=8, seed=0, checkpoint_every=4, eval_every=4, description="toy")
    base.update(kw)
    return TrainJob(**base)


def test_training_learns(tiny_model_dir, tmp_path):
    model = fresh_model(tiny_model_dir)
    data = toy_data()
    before = sum(int(p == y) for p, y in zip(predict(model, data, 1), data.labels)) / len(data.labels)
    summary = train_model(model, data, data, job(steps=40, lr=1e-2), 1, tmp_path / "ckpt.safetensors")
    assert [h["step"] for h in summary["history"]] == list(range(4, 41, 4))
    after = sum(int(p == y) for p, y in zip(predict(model, data, 1), data.labels)) / len(data.labels)
    assert after > before + 0.2


def test_model_selection_restores_the_best_dev_weights_not_the_last(tiny_model_dir, tmp_path, monkeypatch):
    """Dev scores are scripted (0.2, 0.9, 0.5): the weights of the 2nd evaluation must come back."""
    import adaptx.train as train_module

    model = fresh_model(tiny_model_dir)
    data = toy_data()
    scripted = iter([0.2, 0.9, 0.5])
    snapshots = []

    def scripted_predict(m, dev, pad_id, **kwargs):
        snapshots.append({n: p.detach().clone() for n, p in m.trainable_parameters().items()})
        right = round(next(scripted) * len(dev.labels))
        return [y if i < right else (y + 1) % 3 for i, y in enumerate(dev.labels)]

    monkeypatch.setattr(train_module, "predict", scripted_predict)
    summary = train_model(model, data, data, job(steps=12, eval_every=4), 1, tmp_path / "ckpt.safetensors")
    assert summary["best_step"] == 8 and summary["best_dev_score"] == pytest.approx(0.9, abs=0.03)
    final = model.trainable_parameters()
    for name, p in final.items():
        torch.testing.assert_close(p, snapshots[1][name], rtol=0, atol=0, msg=name)
    assert any(not torch.equal(final[n], snapshots[2][n]) for n in final)  # the last weights were different


def test_resume_after_a_crash_gives_the_same_weights(tiny_model_dir, tmp_path):
    data = toy_data()
    straight = fresh_model(tiny_model_dir)
    train_model(straight, data, data, job(), 1, tmp_path / "a.safetensors")

    crashing = fresh_model(tiny_model_dir)
    calls = {"n": 0}
    original = crashing.forward

    def forward(*args, **kwargs):
        if crashing.training:
            calls["n"] += 1
            if calls["n"] == 7:  # dies during step 7: the checkpoint of step 4 survives
                raise KeyboardInterrupt
        return original(*args, **kwargs)

    crashing.forward = forward
    ckpt = tmp_path / "b.safetensors"
    with pytest.raises(KeyboardInterrupt):
        train_model(crashing, data, data, job(), 1, ckpt)
    assert ckpt.is_file() and not ckpt.with_name(ckpt.name + ".tmp").exists()

    resumed = fresh_model(tiny_model_dir)
    summary = train_model(resumed, data, data, job(), 1, ckpt)
    assert summary["history"][0]["step"] == 4  # history from before the crash was kept
    for (name, a), (_, b) in zip(straight.trainable_parameters().items(), resumed.trainable_parameters().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_checkpoint_of_another_stage_is_refused(tiny_model_dir, tmp_path):
    from adaptx.train import _save_checkpoint

    model = fresh_model(tiny_model_dir)
    ckpt = tmp_path / "c.safetensors"
    _save_checkpoint(ckpt, model, torch.optim.AdamW(model.trainable_parameters().values()), None,
                     {"step": 1, "best_score": 0.0, "history": []})
    other = build_model(load_encoder(str(tiny_model_dir)), Setup("none", 3, own_adapter="other", base_fingerprint={}))
    data = toy_data()
    with pytest.raises(AdaptxError, match="does not match this stage's trainable parameters"):
        train_model(other, data, data, job(), 1, ckpt)


def test_corrupt_checkpoint_is_a_clear_error_and_nothing_is_deleted(tiny_model_dir, tmp_path):
    ckpt = tmp_path / "c.safetensors"
    ckpt.write_bytes(b"\x00garbage")
    data = toy_data()
    with pytest.raises(AdaptxError, match=r"c.safetensors is unreadable .*delete it to restart this stage"):
        train_model(fresh_model(tiny_model_dir), data, data, job(), 1, ckpt)
    assert ckpt.read_bytes() == b"\x00garbage"


def test_tensorboard_gets_the_learning_rate_and_gradient_norm_of_every_step(tiny_model_dir, tmp_path, monkeypatch):
    """Issue 34: not only the loss. The fake SummaryWriter stands in for torch's (tensorboard is optional)."""
    from adaptx.progress import RunMonitor

    written = []

    class Writer:
        def __init__(self, log_dir):
            self.log_dir = log_dir

        def add_scalar(self, tag, value, step):
            assert isinstance(value, float)
            written.append((tag, step, value))

        def close(self):
            pass

    monkeypatch.setattr("adaptx.progress.require_tensorboard", lambda: Writer)
    monitor = RunMonitor([("toy", "adapter", 8)], tensorboard_dir=tmp_path / "tb").stage_monitor("toy")
    train_model(fresh_model(tiny_model_dir), toy_data(), toy_data(), job(steps=8, warmup_ratio=0.25, head_lr=1e-2), 1,
                tmp_path / "ckpt.safetensors", monitor=monitor)
    tags = {tag for tag, _, _ in written}
    assert {"train/loss_per_step", "train/learning_rate", "train/learning_rate_head", "train/grad_norm",
            "train/loss", "dev/accuracy"} <= tags
    rates = [value for tag, _, value in sorted(written) if tag == "train/learning_rate"]
    assert len(rates) == 8 and rates[:3] == pytest.approx([0.0, 2.5e-3, 5e-3])  # 2 warmup steps, then linear decay
    assert rates[3] > rates[-1] > 0
    assert all(value > 0 for tag, _, value in written if tag == "train/grad_norm")
