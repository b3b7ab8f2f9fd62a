"""scripts/gpu_check.py --tiny runs every part of the GPU check on a tiny random model on the CPU and
writes the one JSON docs/gpus.md describes (timings are printed, never asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


def test_the_tiny_gpu_check_writes_every_part_of_its_json(tmp_path):
    out = tmp_path / "check.json"
    env = dict(os.environ, ADAPTX_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["tiny"] is True and report["environment"]["device_type"] == "cpu"
    assert {"cpu_flags", "base_dtype", "torch", "load_average"} <= set(report["environment"])

    steps = report["steps"]
    adapter, full = steps["adapter"], steps["full"]
    for mode in (adapter, full):
        assert mode["step_s"] > 0 and mode["tokens_per_s"] > 0 and mode["flops_per_token"] > 0
        assert mode["peak_memory"]["kind"] == "process_peak_rss_so_far"  # a CPU: not per mode
        assert mode["mfu"] is None  # no GPU peak to divide by
    assert 0 < adapter["trainable"] < full["trainable"] == full["total"]
    assert full["flops_per_token"] > adapter["flops_per_token"]  # 3x forward against 2x forward
    assert steps["memory_ratio_adapter_over_full"] is None

    fusion = report["fusion_eval"]
    assert fusion["rows"] == 24 and fusion["stack"]["rows_per_s"] > 0 and fusion["fuse"]["rows_per_s"] > 0
    assert fusion["temperature_unchanged"] is True
    assert sum(fusion["fuse_prediction_counts"].values()) == 24

    quickstart = report["quickstart"]
    assert quickstart["smoke"] is True and "train.target_steps=20" in quickstart["overrides"]
    # the tiny run: the QQP adapter, then none and fuse (which fuses the QQP and the none adapter)
    assert len(quickstart["stages"]) == 3
    for stage in quickstart["stages"].values():
        assert len(stage["window_losses"]) == 4  # 20 steps, a mean training loss every 5
        assert stage["falls"] == (stage["loss_after"] < stage["loss_before"])
    assert set(quickstart["zero_shot_average"]) == {"none", "fuse"}
    assert report["checks"] == {"quickstart_loss_falls": quickstart["loss_falls"],
                                "fusion_temperature_unchanged_by_eval": True,
                                "adapter_memory_ratio_at_most_0.35": None}
    assert quickstart["loss_falls"] is True  # seeded: 20 steps fit the rows they trained on better
    assert "written:" in done.stdout and "quickstart target-xnli-none-s0" in done.stdout
