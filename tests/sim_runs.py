"""Simulated run folders for `adaptx analyze` tests: the files a run writes, with known effects.

Items are shared across languages (a hard item is hard in every language: one difficulty per
item, plus a language effect), as in XNLI's translated test sets. A strategy's gain over `none`
in language l is a + b * x_l in expectation, where x_l is any per-language number (a distance).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LABELS = ["entailment", "neutral", "contradiction"]


def item_correct(rng, languages, n: int, spread: float = 1.5) -> dict[str, np.ndarray]:
    """language -> (n,) booleans: the baseline's correct items, item difficulty shared by languages."""
    difficulty = rng.normal(0.0, spread, n)
    effects = {lang: 0.6 - 0.08 * i for i, lang in enumerate(languages)}
    return {lang: rng.random(n) < 1 / (1 + np.exp(-(difficulty + e))) for lang, e in effects.items()}


def with_gain(rng, base: np.ndarray, gain_points: float) -> np.ndarray:
    """The baseline's correct items with errors fixed (or correct items broken) so that the expected
    accuracy moves by gain_points."""
    out = base.copy()
    if gain_points >= 0:
        wrong = ~base
        out[wrong] = rng.random(wrong.sum()) < (gain_points / 100) / max(wrong.mean(), 1e-9)
    else:
        right = base.copy()
        out[right] = ~(rng.random(right.sum()) < (-gain_points / 100) / max(right.mean(), 1e-9))
    return out


def write_run(folder: Path, rows: dict[tuple, dict[str, np.ndarray]], *, task: str = "xnli", seed: int = 0,
              base_weights: str = "aaaa", base_model: str = "embedded", metrics: dict | None = None) -> Path:
    """A run folder: rows (strategy, intermediate) -> language -> correct booleans (accuracy)."""
    folder = Path(folder)
    records = []
    for (strategy, intermediate), per_lang in rows.items():
        stage_id = f"target-{task}-{strategy}{'-' + intermediate if intermediate else ''}-s{seed}"
        stage = folder / "stages" / f"{stage_id}-0123456789"
        (stage / "eval").mkdir(parents=True, exist_ok=True)
        manifest = {"stage": stage_id, "status": "done", "recipe": {"base": {"weights_sha256": {"w": base_weights}}}}
        (stage / "manifest.json").write_text(json.dumps(manifest))
        train = (metrics or {}).get(stage_id, {"history": [{"step": 1, "dev_score": 0.4}, {"step": 2, "dev_score": 0.5}]})
        (stage / "metrics.json").write_text(json.dumps({"stage": stage_id, "task": task, "strategy": strategy,
                                                        "seed": seed, "train": train}))
        for lang, correct in per_lang.items():
            gold = [LABELS[i % 3] for i in range(len(correct))]
            pred = [g if c else LABELS[(i + 1) % 3] for i, (g, c) in enumerate(zip(gold, correct))]
            path = stage / "eval" / f"{lang}-test-abc.json"
            value = round(100 * float(np.mean(correct)), 2)
            path.write_text(json.dumps({lang: {"ids": list(range(len(correct))), "pred": pred, "gold": gold,
                                               "scores": {"accuracy": value / 100}, "split": "test",
                                               "n": len(correct)}}))
            records.append({"task": task, "strategy": strategy, "intermediate": intermediate, "language": lang,
                            "split": "test", "metric": "accuracy", "value": value, "seed": seed, "n": len(correct),
                            "predictions": str(path.relative_to(folder))})
    (folder / "results.json").write_text(json.dumps(records))
    (folder / "config.yaml").write_text(f"base_model: {base_model}\ntarget_task: {task}\n")
    return folder
