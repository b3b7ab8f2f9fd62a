"""SIGTERM (what a cluster scheduler sends) is handled like Ctrl-C: the running stage finishes its
current step, checkpoints it, says where it stopped and exits 143; the rerun resumes at that step."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from adaptx.interrupts import Interrupted, sigterm_as_interrupt
from adaptx.train import train_model
from test_train import fresh_model, job, toy_data
from tiny_data import write_tiny_data

ROOT = Path(__file__).resolve().parents[1]


def checkpoint_step(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()["adaptx"])["step"]


def test_sigterm_mid_step_checkpoints_that_step_and_the_resumed_run_is_exact(tiny_model_dir, tmp_path):
    data, plan = toy_data(), job(micro_batch_size=8)  # no micro-batch probe: forward call k is step k
    straight = fresh_model(tiny_model_dir)
    train_model(straight, data, data, plan, 1, tmp_path / "a.safetensors")

    stopped = fresh_model(tiny_model_dir)
    calls, original = {"n": 0}, stopped.forward

    def forward(*args, **kwargs):
        if stopped.training:
            calls["n"] += 1
            if calls["n"] == 7:  # a scheduler's SIGTERM arrives in the middle of step 7
                os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    stopped.forward = forward
    ckpt, before = tmp_path / "b.safetensors", signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt(), pytest.raises(Interrupted) as caught:
        train_model(stopped, data, data, plan, 1, ckpt)  # periodic checkpoints every 4 steps
    assert caught.value.exit_code == 143 and caught.value.signal_name == "SIGTERM"
    assert "toy stopped at step 7 of 12" in caught.value.where and "resume there" in caught.value.where
    assert checkpoint_step(ckpt) == 7  # not the periodic checkpoint of step 4: nothing is lost
    assert signal.getsignal(signal.SIGTERM) == before  # the handlers before the run came back

    resumed = fresh_model(tiny_model_dir)
    summary = train_model(resumed, data, data, plan, 1, ckpt)
    assert [h["step"] for h in summary["history"]] == [4, 8, 12]
    for (name, a), (_, b) in zip(straight.trainable_parameters().items(), resumed.trainable_parameters().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_a_second_signal_stops_at_once(tiny_model_dir, tmp_path):
    model, data = fresh_model(tiny_model_dir), toy_data()
    calls, original = {"n": 0}, model.forward

    def forward(*args, **kwargs):
        if model.training:
            calls["n"] += 1
            if calls["n"] == 6:
                os.kill(os.getpid(), signal.SIGINT)  # the first asks for a stop after this step
                os.kill(os.getpid(), signal.SIGINT)  # the second does not wait for it
        return original(*args, **kwargs)

    model.forward = forward
    ckpt = tmp_path / "c.safetensors"
    with pytest.raises(Interrupted, match="second signal"):
        train_model(model, data, data, job(micro_batch_size=8), 1, ckpt)
    assert checkpoint_step(ckpt) == 4  # the last periodic one; step 6 was not finished


def test_outside_training_sigterm_raises_like_ctrl_c():
    with pytest.raises(KeyboardInterrupt) as caught, sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert isinstance(caught.value, Interrupted) and caught.value.exit_code == 143


class Lines:
    """A child process's standard output, line by line, read in a thread (no blocking on the pipe)."""

    def __init__(self, process):
        self.lines, self.process = [], process
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float = 180) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            if self.process.poll() is not None and not self.thread.is_alive():
                break
            time.sleep(0.05)
        self.process.kill()
        raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(self.lines)}")


def start_run(config, data, out, env):
    return subprocess.Popen([sys.executable, "-m", "adaptx", "run", str(config), "--data-dir", str(data),
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def test_sigterm_to_the_command_stops_it_with_143_and_the_rerun_resumes_at_that_step(tiny_model_dir, tmp_path):
    data = write_tiny_data(tmp_path / "data")
    steps = 100_000  # never reached: the test stops it twice
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "base_model": str(tiny_model_dir), "target_task": "xnli", "languages": ["en"], "strategies": ["none"],
        "max_seq_length": 16, "data": {"max_eval_examples": 6, "max_dev_examples": 6},
        # no periodic checkpoint before the stop: the one found afterwards is the stop's own
        "train": {"target_steps": steps, "batch_size": 4, "checkpoint_every": steps, "eval_every": steps}}))
    out = tmp_path / "run"
    env = dict(os.environ, ADAPTX_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")

    first = start_run(config, data, out, env)
    Lines(first).wait_for(r"target-xnli-none-s0: step \d+/100000, .*\[estimate\]")  # it is training
    first.send_signal(signal.SIGTERM)
    stderr = first.stderr.read()
    assert first.wait(timeout=120) == 143, stderr
    stopped = re.search(r"adaptx: SIGTERM: interrupted; target-xnli-none-s0 stopped at step (\d+) of 100000", stderr)
    assert stopped, stderr
    step = int(stopped.group(1))
    ckpt, = out.glob("stages/target-xnli-none-s0-*/checkpoint.safetensors")
    assert checkpoint_step(ckpt) == step >= 4
    assert "run ended: target-xnli-none-s0 stopped at step" in (out / "run.log").read_text()

    second = start_run(config, data, out, env)
    lines = Lines(second)
    lines.wait_for(rf"target-xnli-none-s0: resuming at step {step} of 100000 from checkpoint.safetensors")
    second.send_signal(signal.SIGTERM)
    stderr = second.stderr.read()
    assert second.wait(timeout=120) == 143, stderr
    assert checkpoint_step(ckpt) >= step
