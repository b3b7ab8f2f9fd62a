"""results.json (flat records) -> results.md (languages as columns, strategies as rows, best marked)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from .errors import AdaptxError
from .fileio import atomic_write_text

STRATEGY_ORDER = ("none", "stack", "fuse", "full-none", "full")


def records_from_metrics(stage_metrics: list[dict]) -> list[dict]:
    records = []
    for m in stage_metrics:
        zs = m["zero_shot"]
        for lang, value in zs["scores"].items():
            records.append({"task": m["task"], "strategy": m["strategy"], "intermediate": m["intermediate"],
                            "language": lang, "split": zs["split"], "metric": zs["metric"],
                            "value": round(value * 100, 2), "seed": m["seed"]})
    return records


def render_table(records: list[dict]) -> str:
    """Markdown table; values are averaged over seeds; the best value of each column is bold."""
    if not records:
        return "(no results yet)"
    langs: list[str] = []
    for r in records:
        if r["language"] not in langs:
            langs.append(r["language"])
    cells: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        cells[(r["strategy"], r["intermediate"])][r["language"]].append(r["value"])
    rows = sorted(cells, key=lambda k: (STRATEGY_ORDER.index(k[0]) if k[0] in STRATEGY_ORDER else 99, k[1] or ""))
    columns = langs + ["avg"] + (["avg w/o en"] if "en" in langs and len(langs) > 1 else [])
    table: dict[tuple, dict[str, float]] = {}
    for key in rows:
        means = {lang: sum(v) / len(v) for lang, v in cells[key].items()}
        row = dict(means)
        if len(means) == len(langs):
            row["avg"] = sum(means.values()) / len(means)
            others = [v for lang, v in means.items() if lang != "en"]
            if "avg w/o en" in columns:
                row["avg w/o en"] = sum(others) / len(others)
        table[key] = row
    best = {c: max((table[k][c] for k in rows if c in table[k]), default=None) for c in columns}
    first = records[0]
    seeds = sorted({r["seed"] for r in records})
    lines = [f"{first['task']} zero-shot {first['metric']} (%) on {first['split']}, "
             f"mean over seeds {seeds}; **bold** = best in column",
             "", "| strategy | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for key in rows:
        name = key[0] if not key[1] else f"{key[0]} ({key[1]})"
        values = []
        for c in columns:
            v = table[key].get(c)
            values.append("–" if v is None else (f"**{v:.1f}**" if v == best[c] else f"{v:.1f}"))
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def write_results(run_dir: Path, stage_metrics: list[dict], target: str) -> str:
    records = records_from_metrics(stage_metrics)
    atomic_write_text(run_dir / "results.json", json.dumps(records, indent=1))
    table = render_table(records)
    atomic_write_text(run_dir / "results.md", f"# Results: {target}\n\n{table}\n")
    return table


def print_report(run_dir) -> None:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise AdaptxError(f"{path} not found: is {run_dir} an adaptx run folder with at least one finished target stage?")
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AdaptxError(f"{path}: not valid JSON ({exc})") from exc
    print(render_table(records))

