"""`adaptx analyze RUN [RUN ...] [--out DIR]`: gains with intervals, the typology question, plots.

Reads run folders (and a search's `best/`), writes into DIR (default: the first run's analysis/):
gains.csv, correlations.csv, typology.csv, fusion-attention.csv (fusion rows), analysis.md and
plots/*.png. `after_run` is what every `adaptx run` calls at its end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AdaptxError
from ..fileio import atomic_write_text, check_output_folder
from ..run_folder import RunFolder
from ..stats import RESAMPLES
from ..tasks import TASKS
from . import plots
from .budget import budget_plot, budget_points
from .correlation import MIN_LANGUAGES
from .gains import Cell, baselines, bootstrap, cells, label
from .published_rows import BesidePublished, beside_published, on_published_base
from .runs import Run, Target, collect_targets, read_runs, stage_metrics
from .study import Finding, findings, rows
from .typology import DISTANCES, Typology, known, typology
from .writeup import attention_rows, csv_text, gains_rows, markdown, typology_rows

INTERMEDIATE_STRATEGIES = ("intermediate", "full-intermediate")


@dataclass
class Analysis:
    out: Path
    resamples: int
    runs: list[Run]
    targets: list[Target]
    typology: Typology
    cells: list[Cell] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    published: list[BesidePublished] = field(default_factory=list)  # runs on XLM-R Large only


def analyze(folders, out=None, *, resamples: int = RESAMPLES, draw_plots: bool = True,
            against: str | None = None, include_same_data: bool = False) -> Analysis:
    """Analyse the runs and write every output file (PNGs unless draw_plots is False); problems with
    parts of the input are messages. `against`: a row name (e.g. "fuse") every other row's gains are
    measured against, instead of each strategy's own baseline. Rows whose intermediate task trained on
    the target's own English data (§) stay in the tables but are left out of the typology reading
    unless `include_same_data`."""
    folders = [Path(f) for f in folders]
    if not folders:
        raise AdaptxError("adaptx analyze needs at least one run folder")
    # checked before any run is read: a file in the way is an answer in a second, not after the bootstrap
    out = check_output_folder(out if out else RunFolder(folders[0]).analysis_dir,
                              "--out" if out else "analysis folder")
    messages: list[str] = []
    runs = read_runs(folders, messages)
    if not runs:
        raise AdaptxError("nothing to analyse: " + "; ".join(messages))
    targets = [t for t in collect_targets(runs, messages) if t.rows]
    languages = [lang for t in targets for lang in t.languages]
    try:
        typ = typology(languages)
    except AdaptxError as exc:
        messages.append(f"no typology analysis: {exc}")
        typ = Typology({}, {}, {lang: str(exc) for lang in dict.fromkeys(languages)})
    if typ.missing and typ.distances:  # (without URIEL+ at all the message above says why)
        messages.append("languages without URIEL entries (listed in analysis.md, left out of the correlations): "
                        + ", ".join(typ.missing))
    a = Analysis(out, resamples, runs, targets, typ, messages=messages)
    for target in targets:
        try:
            boot = bootstrap(target, resamples=resamples)
        except AdaptxError as exc:
            messages.append(f"{target.name} ({target.metric}): {exc}; not analysed")
            continue
        messages += [f"{target.name} ({target.metric}) [{lang}]: {why}" for lang, why in boot.apart.items()]
        base_of = baselines(target, messages, against)
        mine = cells(target, boot, base_of, messages)
        a.cells += mine
        if target.metric == _primary_metric(target, targets):  # the typology question on the task's own metric
            apart = [] if include_same_data else [n for n, f in target.facts.items() if f.get("same_data")]
            if apart:
                messages.append(f"{target.name}: {', '.join(apart)} trained on the target's own English data (§): "
                                "in the tables, left out of the typology reading (--include-same-data keeps them)")
            a.findings += findings(target, boot, mine, base_of, typ, leave_out=apart)
        if on_published_base(runs):
            a.published += beside_published(target, boot, messages)
    _write(a, draw_plots)
    return a


def summary_lines(a: Analysis) -> list[str]:
    """What `adaptx analyze` prints."""
    lines = [f"adaptx analyze: {len(a.runs)} run(s) on base {', '.join(sorted({r.base for r in a.runs}))}; "
             + "; ".join(f"{t.name} ({t.metric}): {len(t.rows)} rows, {len(t.languages)} languages" for t in a.targets)]
    for f in a.findings:
        lines.append(f"  {f.target} {f.row}, {f.quantity} vs distance: {f.reading}")
    lines += [f"  note: {m}" for m in a.messages]
    lines.append(f"adaptx: wrote {len(a.files)} files to {a.out} (start with analysis.md): "
                 + ", ".join(str(p.relative_to(a.out)) for p in a.files))
    return lines


def after_run(run_dir) -> None:
    """The end of every `adaptx run`: the analysis and its plots in RUN/analysis; never fails the run."""
    try:
        a = analyze([run_dir])
    except AdaptxError as exc:
        print(f"adaptx: analysis not written ({exc})", flush=True)
        return
    except Exception as exc:  # noqa: BLE001 - the run's results are written; its analysis must not fail it
        print(f"adaptx: analysis not written ({type(exc).__name__}: {str(exc)[:200]}); "
              f"`adaptx analyze {run_dir}` retries it", flush=True)
        return
    pngs = [p for p in a.files if p.suffix == ".png"]
    notes = f"; {_counted(len(a.messages), 'note')} in analysis.md" if a.messages else ""
    print(f"adaptx: analysis and {_counted(len(pngs), 'plot')} in {a.out} (`adaptx analyze` reads several runs){notes}",
          flush=True)


def _counted(n: int, noun: str) -> str:
    """'1 note', '3 notes'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _primary_metric(target: Target, targets: list[Target]) -> str:
    task = TASKS.get(target.task)
    if task is not None:
        return task.metric
    return next(t.metric for t in targets if t.task == target.task)


def _write(a: Analysis, draw_plots: bool) -> None:
    a.out.mkdir(parents=True, exist_ok=True)
    attention = {(t.task, name): per_lang for t in a.targets for name, per_lang in t.attention.items() if per_lang}
    for name, table in (("gains.csv", gains_rows(a.cells)), ("correlations.csv", rows(a.findings)),
                        ("typology.csv", typology_rows(a.typology)), ("fusion-attention.csv", attention_rows(attention))):
        if table:
            atomic_write_text(a.out / name, csv_text(table))
            a.files.append(a.out / name)
    if draw_plots:
        folder = a.out / "plots"
        folder.mkdir(exist_ok=True)
        a.files += [p for p in _plots(a, folder, attention) if p is not None]
    atomic_write_text(a.out / "analysis.md", markdown(a))
    a.files.insert(0, a.out / "analysis.md")


def _plots(a: Analysis, folder: Path, attention: dict) -> list:
    msgs = a.messages
    drawn = []
    for target in a.targets:
        mine = [c for c in a.cells if c.target == target.name and c.metric == target.metric]
        if target.metric != _primary_metric(target, a.targets) or not mine:
            continue
        langs = list(dict.fromkeys(c.language for c in mine))
        marks = {(label(c), c.language): c.verdict for c in mine}
        scores = {(label(c), c.language): c.score for c in mine}
        gains = {(label(c), c.language): c.gain for c in mine if c.gain is not None}
        rows_all = list(dict.fromkeys(label(c) for c in mine))
        rows_gain = list(dict.fromkeys(r for r, _ in gains))
        drawn.append(plots.draw(folder, plots.file_name("scores", target.name), plots.heatmap,
                                f"{target.name} zero-shot {target.metric} (%); ▲/▼ gain over baseline excludes 0",
                                rows_all, langs, scores, marks, target.metric, False, messages=msgs))
        drawn.append(plots.draw(folder, plots.file_name("gains", target.name), plots.heatmap,
                                f"{target.name}: gain over the baseline (points); ▲/▼ 95% paired interval excludes 0",
                                rows_gain, langs, gains, marks, "points", True, messages=msgs))
        found = [f for f in a.findings if f.target == target.name and f.quantity == "gain"]
        if found and all(assoc is None for f in found for assoc in f.associations.values()):
            msgs.append(f"{target.name}: gain-vs-distance plots not drawn (a fit needs at least {MIN_LANGUAGES} "
                        "zero-shot languages with URIEL distances)")
        for distance, (_, how) in DISTANCES.items():
            panels = [(f.row, {lang: (a.typology.distances[lang][distance], f.values[lang])
                               for lang in known(a.typology, f.languages, distance)},
                       f.associations[distance]) for f in found]
            drawn.append(plots.draw(folder, plots.file_name("gain-vs", distance, target.name), plots.versus_distance,
                                    f"{target.name}: gain over the baseline vs {distance} distance", panels, distance,
                                    how, "gain (points)", messages=msgs))
    points = budget_points(a.cells)
    for task, metric in dict.fromkeys((key[0], key[1]) for key in points):
        series = {row: pts for (t, m, row), pts in points.items() if (t, m) == (task, metric)}
        drawn.append(plots.draw(folder, plots.file_name("budget", task, metric), budget_plot,
                                f"{task}: gain over the baseline against the target budget\n({metric}, zero-shot "
                                "average, 95% paired intervals)", series, messages=msgs))
    metrics = stage_metrics(a.runs, msgs)
    drawn.append(plots.draw(folder, "dev-curves.png", plots.curves, _series(metrics, _dev_points),
                            "English dev score", messages=msgs))
    loss = _series(metrics, _loss_points)
    if any(any(lines.values()) for lines in loss.values()):
        drawn.append(plots.draw(folder, "train-loss.png", plots.curves, loss, "training loss", messages=msgs))
    else:
        msgs.append("no training loss recorded in the stages' metrics.json: train-loss.png not drawn")
    for (task, row), per_lang in attention.items():
        drawn.append(plots.draw(folder, plots.file_name("fusion-attention", task, row), plots.fusion_attention,
                                f"{task} {row}: mean fusion attention per layer over each language's evaluation rows",
                                per_lang, messages=msgs))
    return drawn


def _series(metrics: list[dict], points) -> dict:
    """task group -> stage -> (step, value) points."""
    out: dict = {}
    for m in metrics:
        train = m.get("train")
        if not isinstance(train, dict) or not isinstance(m.get("stage"), str):
            continue
        role = "intermediate" if m.get("strategy") in INTERMEDIATE_STRATEGIES else "target"
        out.setdefault(f"{m.get('task')} ({role})", {})[m["stage"]] = points(train)
    return out


def _dev_points(train: dict) -> list:
    history = train.get("history") if isinstance(train.get("history"), list) else []
    return [(h["step"], 100 * h["dev_score"]) for h in history
            if isinstance(h, dict) and _number(h.get("step")) and _number(h.get("dev_score"))]


def _loss_points(train: dict) -> list:
    """Training loss as recorded: train.loss_history [{step, loss}], or a loss in the dev history."""
    if isinstance(train.get("loss_history"), list):
        entries, key = train["loss_history"], "loss"
    else:
        entries = train.get("history") if isinstance(train.get("history"), list) else []
        key = "train_loss"
    return [(h["step"], h[key]) for h in entries if isinstance(h, dict) and _number(h.get("step"))
            and _number(h.get(key))]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
