"""What the speed benchmarks share (scripts/bench_training.py --candidates, scripts/bench_eval.py).

- one subprocess per mode, so thread settings, compiled graphs and peak memory are that mode's alone;
- modes interleaved in rounds (--rounds), so load that comes and goes on a shared machine hits every
  mode alike, and each mode's number is the median over rounds;
- the machine beside every number: CPU flags, torch's CPU capability, threads, the frozen base's dtype
  and the load average before and after;
- wall time and this process's CPU time (all its threads) per unit: on a loaded machine wall time
  grows with the other jobs, CPU time much less;
- the real workload: the quickstart's target data (English MNLI for training, XNLI test rows in its
  15 languages for evaluation) and the trained adapters shipped in adapter_zoo/.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "adapter_zoo"
QUICKSTART_LANGUAGES = ("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
MAX_LENGTH = 128  # the quickstart's max_seq_length


def machine() -> dict:
    from adaptx.runtime import relevant_cpu_flags

    return {"cpu_flags": relevant_cpu_flags(), "capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), "cores": os.cpu_count(), "torch": torch.__version__,
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def machine_line(info: dict) -> str:
    return (f"CPU flags {' '.join(info['cpu_flags']) or 'unknown'}; torch {info['torch']} kernels {info['capability']}; "
            f"{info['cores']} cores, torch threads {info['threads']}; load average {' '.join(map(str, info['load_average']))}")


def matmul_ceiling_gflops(seconds: float = 1.0, size: int = 1024) -> float:
    """fp32 GFLOP/s of one large matrix product at the current thread count: what this CPU's BLAS reaches
    at best, so a step's model GFLOP/s says how much headroom is left."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # kernels picked, memory touched
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        runs += 1
    return 2 * size ** 3 * runs / (time.perf_counter() - start) / 1e9


def linear_flops(model, tokens: int) -> float:
    """Floating-point operations of one training step's linear layers (a lower bound: attention scores,
    softmax, GELU and LayerNorm left out): 2 per weight and token forward, the same again for the inputs'
    gradients backward, and again for each trainable weight's gradient. Embedding lookups are no products."""
    weights = trainable = 0
    for name, p in model.named_parameters():
        if p.dim() == 2 and "embeddings" not in name:
            weights += p.numel()
            trainable += p.numel() if p.requires_grad else 0
    return 2.0 * tokens * (2 * weights + trainable)


class Clock:
    """Wall and CPU seconds of one timed unit (a step, an evaluation pass)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


# changes that are environment variables, read when torch's OpenMP runtime starts (so set before it loads)
ENVIRONMENT_CHANGES = {
    "omp-passive": {"OMP_WAIT_POLICY": "PASSIVE"},  # threads waiting at a barrier sleep instead of spinning
}


def run_worker(script: Path, mode: str, argv: list[str], timeout: float | None = None) -> dict:
    """One mode in a fresh interpreter: `script --worker MODE argv...` prints its result as the last line."""
    env = dict(os.environ)
    for change in mode.split(":")[-1].split("+"):
        env.update(ENVIRONMENT_CHANGES.get(change, {}))
    out = subprocess.run([sys.executable, str(script), "--worker", mode, *argv], capture_output=True, text=True,
                         timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_rounds(script: Path, modes: list[str], argv: list[str], rounds: int, show=print,
               save: Path | None = None) -> dict[str, list[dict]]:
    """Every mode once per round, in the same order each round; mode -> its results, one per round.
    save: the results so far written there after every mode (a long run stopped midway keeps them)."""
    results: dict[str, list[dict]] = {m: [] for m in modes}
    for r in range(rounds):
        for mode in modes:
            started = time.perf_counter()
            result = run_worker(script, mode, argv)
            results[mode].append(result)
            if save is not None:
                Path(save).write_text(json.dumps(results))
            measured = ", ".join(f"{k} {result[k]:.2f}" for k in ("rows_per_s", "step_s", "cpu_s", "compile_s")
                                 if k in result)
            show(f"  [round {r + 1}/{rounds}] {mode}: {measured}; {time.perf_counter() - started:.0f} s in all "
                 f"(load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})", flush=True)
    return results


def median_of(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def data_dir(given: str | None) -> str:
    """The reference slices when given, else the quickstart's own data pack (shipped with adaptx)."""
    if given:
        return given
    from adaptx.packs import resolve_data_dir

    return str(resolve_data_dir("builtin:quickstart", None))


def eval_rows(tokenizer, folder: str, per_language: int):
    """The first `per_language` XNLI test rows of each of the quickstart's 15 languages, encoded as
    adaptx encodes them (classification kind, max length 128)."""
    from adaptx.data import load_split
    from adaptx.kinds import get_kind
    from adaptx.tasks import get_task

    task = get_task("xnli")
    examples = []
    for lang in QUICKSTART_LANGUAGES:
        examples += load_split(task, "eval-test", lang, "local", folder).examples[:per_language]
    return get_kind("classification").encode(task, examples, tokenizer, MAX_LENGTH)


def train_rows(tokenizer, folder: str, count: int):
    """The first `count` English MNLI training rows (XNLI's training data), encoded as adaptx encodes them."""
    from adaptx.data import load_split
    from adaptx.kinds import get_kind
    from adaptx.tasks import get_task

    task = get_task("xnli")
    examples = load_split(task, "train", "en", "local", folder).examples[:count]
    return get_kind("classification").encode(task, examples, tokenizer, MAX_LENGTH)


def zoo_folder(name: str) -> Path:
    """A shipped adapter's folder (adapter-<saved name>/ inside adapter_zoo/<entry>/)."""
    return next((ZOO / name).glob("adapter-*"))


def differences(reference: list, other: list) -> int:
    return sum(a != b for a, b in zip(reference, other))


def compiles(candidate: str) -> bool:
    """Whether a candidate (changes joined by '+') compiles the encoder."""
    return any(change.startswith("compile") for change in candidate.split("+"))


def bucket_of(changes: set[str]) -> int | None:
    """compile-bucket16 (the old name), bucketN or compile-bucketN: lengths padded up to a multiple of N
    (bucket128 pads every batch to one shape, so compiled and eager steps compare at steady state)."""
    for change in changes:
        name = change.removeprefix("compile-")
        if name.startswith("bucket") and name[len("bucket"):].isdigit():
            return int(name[len("bucket"):])
    return None


class Bucketed(torch.nn.Module):
    """An encoder whose every batch is padded up to a multiple of `multiple` tokens (masked), its hidden
    states cut back to the batch's own length: fewer distinct shapes for a compiled graph to handle."""

    def __init__(self, encoder, multiple: int, pad_id: int):
        super().__init__()
        self.inner, self.multiple, self.pad_id = encoder, multiple, pad_id

    def forward(self, input_ids, attention_mask):
        length = input_ids.shape[1]
        extra = -length % self.multiple
        if extra:
            input_ids = torch.nn.functional.pad(input_ids, (0, extra), value=self.pad_id)
            attention_mask = torch.nn.functional.pad(attention_mask, (0, extra), value=0)
        hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return SimpleNamespace(last_hidden_state=hidden[:, :length])
