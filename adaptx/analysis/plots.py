"""The analysis's figures (matplotlib, Agg backend, PNG): one function per plot, each returning the
file it wrote or None when it has nothing to draw. Plots are a convenience (the CSV and Markdown
files hold the numbers): `draw` reports a plot that fails and carries on."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

MARK = {"better": "▲", "worse": "▼"}


def draw(folder: Path, name: str, plot, *args, messages: list[str]) -> Path | None:
    """plot(path, *args) into folder/name, written atomically; a failure becomes a message."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(folder) / name
    tmp = path.with_name(f".{path.stem}.tmp.png")
    try:
        if not plot(tmp, *args):
            return None
        os.replace(tmp, path)
        return path
    except Exception as exc:  # noqa: BLE001 - a plot that cannot be drawn must not cost the analysis
        messages.append(f"{name} not drawn ({type(exc).__name__}: {str(exc)[:120]})")
        return None
    finally:
        tmp.unlink(missing_ok=True)
        plt.close("all")


def file_name(*parts: str) -> str:
    """A safe PNG name from labels such as 'fuse (qqp+xnli)'."""
    return "-".join(re.sub(r"[^A-Za-z0-9_.+-]+", "_", p).strip("_") for p in parts if p) + ".png"


def wrapped(label: str, width: int = 30) -> str:
    """A long row name such as 'fuse (zoo:a+zoo:b+zoo:c+xnli)' on several lines, broken after '+'."""
    lines, line = [], ""
    for piece in re.split(r"(?<=\+)", label):
        if line and len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        line += piece
    return "\n".join(lines + [line])


def heatmap(path: Path, title: str, rows: list[str], languages: list[str], values: dict, marks: dict,
            unit: str, diverging: bool) -> bool:
    """rows x languages; values[(row, lang)] (None: blank); marks[(row, lang)]: better/worse."""
    import matplotlib.pyplot as plt

    if not rows or not languages:
        return False
    grid = np.array([[np.nan if values.get((r, lang)) is None else values[r, lang] for lang in languages] for r in rows])
    labels = [wrapped(r) for r in rows]
    height = 1.4 + sum(0.2 + 0.2 * label.count("\n") for label in labels) + 0.25 * len(rows)
    fig, ax = plt.subplots(figsize=(2.5 + 0.62 * len(languages), height))
    if diverging:
        limit = np.nanmax(np.abs(grid)) if np.isfinite(grid).any() else 1.0
        image = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    else:
        image = ax.imshow(grid, cmap="viridis", aspect="auto")
    for i, r in enumerate(rows):
        for j, lang in enumerate(languages):
            if np.isfinite(grid[i, j]):
                text = f"{grid[i, j]:.1f}{MARK.get(marks.get((r, lang)), '')}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="black" if diverging else "white")
    ax.set_xticks(range(len(languages)), [lang.replace(" ", "\n", 1) for lang in languages], fontsize=8)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label=unit, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def versus_distance(path: Path, title: str, panels: list[tuple[str, dict, object]], distance: str,
                    source: str, unit: str) -> bool:
    """One panel per row: languages at (distance, value), the least-squares fit and its bootstrap band.
    panels: (row name, {language: (distance, value)}, Association or None)."""
    import matplotlib.pyplot as plt

    panels = [p for p in panels if p[1] and p[2] is not None]  # a fit needs enough languages (correlation.py)
    if not panels:
        return False
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, (name, points, assoc) in zip(axes.flat, panels):
        xs, ys = zip(*points.values())
        ax.scatter(xs, ys, s=14, color="tab:blue")
        for lang, (x, y) in points.items():
            ax.annotate(lang, (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
        ax.axhline(0, color="grey", lw=0.6)
        if assoc.slope.point is not None:
            grid = np.array([b[0] for b in assoc.band]) if assoc.band else np.array([min(xs), max(xs)])
            ax.plot(grid, assoc.intercept + assoc.slope.point * grid, color="tab:red", lw=1.2)
            if assoc.band:
                ax.fill_between(grid, [b[1] for b in assoc.band], [b[2] for b in assoc.band], color="tab:red",
                                alpha=0.15, lw=0)
        rho = assoc.rho
        label = wrapped(name, 48)
        if rho.point is not None:
            label += f": rho {rho.point:+.2f}" + (f" [{rho.lo:+.2f}, {rho.hi:+.2f}]" if rho.lo is not None else "")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel(f"{distance} distance from English", fontsize=8)
        ax.set_ylabel(unit, fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"{title}\n{source}; band: 95% bootstrap over items and languages", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def curves(path: Path, series: dict[str, dict[str, list[tuple[float, float]]]], ylabel: str) -> bool:
    """One panel per group (a task), one line per stage: (step, value) points."""
    import matplotlib.pyplot as plt

    series = {group: lines for group, lines in series.items() if any(lines.values())}
    if not series:
        return False
    fig, axes = plt.subplots(1, len(series), figsize=(4.5 * len(series), 3.4), squeeze=False)
    for ax, (group, lines) in zip(axes.flat, series.items()):
        for stage, points in lines.items():
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, marker=".", lw=1, label=stage)
        ax.set_title(group, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def fusion_attention(path: Path, title: str, per_language: dict[str, dict]) -> bool:
    """One panel per fused adapter: languages x layers, the mean attention weight on that adapter."""
    import matplotlib.pyplot as plt

    if not per_language:
        return False
    first = next(iter(per_language.values()))
    adapters, layers = first["adapters"], [f"{layer['layer']}" for layer in first["layers"]]
    languages = [lang for lang, a in per_language.items() if a["adapters"] == adapters and len(a["layers"]) == len(layers)]
    fig, axes = plt.subplots(1, len(adapters), figsize=(0.5 * len(layers) * len(adapters) + 2, 0.3 * len(languages) + 1.8),
                             squeeze=False)
    for k, (ax, adapter) in enumerate(zip(axes.flat, adapters)):
        grid = np.array([[layer["weights"][k] for layer in per_language[lang]["layers"]] for lang in languages])
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="magma", aspect="auto")
        ax.set_xticks(range(len(layers)), layers, fontsize=7)
        ax.set_yticks(range(len(languages)), languages, fontsize=7)
        ax.set_xlabel("layer", fontsize=8)
        ax.set_title(f"weight on {adapter}", fontsize=8)
    fig.colorbar(image, ax=list(axes.flat), shrink=0.8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return True
