"""scripts/bench_compositions.py --quick runs every composition on a tiny model and prints, per
composition, its ratio to `stack` and the parameter counts docs/merging.md documents."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_compositions.py"


def test_the_benchmark_prints_every_composition_with_its_ratio_and_parameters():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--adapters", "3", "--rounds", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CPU flags:" in done.stdout
    rows = {m[0]: m[1:] for m in re.findall(r"^\s+(\w+)\s+([\d.]+)\s+([\d.]+)x\s+([\d,]+)\s+([\d,]+)$",
                                             done.stdout, re.M)}
    assert set(rows) == {"none", "stack", "fuse", "average", "scaled", "merge", "task_arithmetic", "ties", "dare"}
    assert float(rows["stack"][1]) == 1.0
    transfer = {name: int(r[2].replace(",", "")) for name, r in rows.items()}
    trainable = {name: int(r[3].replace(",", "")) for name, r in rows.items()}
    layers, hidden = 2, 32  # the tiny model; scaled: one scale per adapter and layer
    assert transfer["scaled"] == 3 * layers and trainable["scaled"] == trainable["stack"] + 3 * layers
    assert all(transfer[n] == 0 and trainable[n] == trainable["stack"]
               for n in ("none", "average", "merge", "task_arithmetic", "ties", "dare"))
    assert transfer["fuse"] == layers * (3 * hidden**2 + 2 * hidden)  # docs/merging.md's L(3h^2 + 2h)
