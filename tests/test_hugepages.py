"""Huge pages for torch's large CPU buffers (issue 18, quickstart time): the command line asks for
them before torch loads, the user's own setting wins, and they change no number a model computes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adaptx import hugepages

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_torch_yet(monkeypatch):
    """This process as `adaptx` starts it: Linux, torch not imported, the variable unset."""
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(hugepages.sys, "platform", "linux")
    monkeypatch.delenv(hugepages.ENV, raising=False)


def test_asks_for_huge_pages_before_torch_loads(no_torch_yet):
    assert hugepages.prefer_huge_pages() is True
    assert os.environ[hugepages.ENV] == "1"
    assert hugepages.huge_pages_setting() == "1"


@pytest.mark.parametrize("value, on", [("0", False), ("1", True)])
def test_the_users_own_setting_wins(no_torch_yet, monkeypatch, value, on):
    monkeypatch.setenv(hugepages.ENV, value)
    assert hugepages.prefer_huge_pages() is on
    assert os.environ[hugepages.ENV] == value


def test_too_late_once_torch_is_loaded_and_nothing_off_linux(no_torch_yet, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", object())
    assert hugepages.prefer_huge_pages() is False
    assert hugepages.ENV not in os.environ  # c10 read it at torch's first allocation: setting it now would lie
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setattr(hugepages.sys, "platform", "darwin")
    assert hugepages.prefer_huge_pages() is False
    assert hugepages.huge_pages_setting() == "unset"


def test_the_command_line_sets_it_before_any_command_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != hugepages.ENV}
    code = ("import os, sys; from adaptx.cli import main; rc = main(['report', %r]); "
            "print(rc, os.environ.get('THP_MEM_ALLOC_ENABLE'))" % str(tmp_path / "no-such-run"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split() == ["1", "1"], out.stderr[-2000:]


TRAIN_A_FEW_STEPS = r"""
import hashlib, json, sys
import torch
from transformers import BertConfig, BertModel
from adaptx.modeling import Setup, build_model
from adaptx.train import TrainJob, _optimizer

torch.manual_seed(0)
# a word-embedding matrix of 5 MB and FFN activations over 2 MiB: buffers torch puts on huge pages
config = BertConfig(vocab_size=20000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=2048)
model = build_model(BertModel(config, add_pooling_layer=False), Setup("full", 3, kind="classification"))
optimizer = _optimizer(model.trainable_parameters(), TrainJob(steps=3, lr=1e-3, batch_size=8, seed=0))
model.train()
for step in range(3):
    ids = torch.randint(5, 20000, (8, 40), generator=torch.Generator().manual_seed(step))
    loss = torch.nn.functional.cross_entropy(model(ids, torch.ones_like(ids)), torch.arange(8) % 3)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(model.trainable_parameters().values()), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
model.eval()
with torch.inference_mode():
    logits = model(ids, torch.ones_like(ids))
digest = hashlib.sha256()
for name, tensor in sorted(model.state_dict().items()):
    digest.update(name.encode()); digest.update(tensor.detach().contiguous().numpy().tobytes())
print(json.dumps({"weights": digest.hexdigest(), "logits": hashlib.sha256(logits.numpy().tobytes()).hexdigest()}))
"""


def test_huge_pages_change_no_weight_and_no_prediction():
    """Full fine-tuning steps (the fused AdamW included) and a prediction, in a fresh process with
    huge pages off and on (the variable must be set before torch loads): bit-identical."""
    results = []
    for value in ("0", "1"):
        env = {**os.environ, hugepages.ENV: value}
        out = subprocess.run([sys.executable, "-c", TRAIN_A_FEW_STEPS], env=env, capture_output=True, text=True,
                             cwd=ROOT)
        assert out.returncode == 0, out.stderr[-2000:]
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert results[0] == results[1]
