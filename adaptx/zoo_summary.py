"""`adaptx zoo show NAME`: a verified entry's card as a short readable summary (`--json`: the card itself).

The card has passed adaptx.zoo_card's checks (required fields present and typed) before it gets here;
fields a card may lack (an older adaptx, a hand-made entry) are shown as '-'.
"""

from __future__ import annotations

from pathlib import Path

from .baselines import versus_trivial_text
from .convergence import MARK, of_card
from .errors import AdaptxError
from .zoo_card import Card
from .zoo_index import kind_label

MAX_LABELS = 8  # CCG has hundreds of categories: the summary shows the first few and the count


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _or_dash(value) -> str:
    return "-" if value is None or value == "" else str(value)


def budget_text(training: dict) -> str:
    head = f" (head {training['head_lr']:g})" if isinstance(training.get("head_lr"), (int, float)) else ""
    parts = [f"{training['steps']} steps x batch {training['batch_size']}, lr {training['lr']}{head}"]
    if training.get("dtype"):
        parts.append(str(training["dtype"]))
    if training.get("max_seq_length"):
        parts.append(f"max length {training['max_seq_length']}")
    if isinstance(training.get("trainable_parameters"), int):
        parts.append(f"{training['trainable_parameters']:,} trainable parameters")
    if isinstance(training.get("train_seconds"), (int, float)):
        hardware = training.get("hardware") or {}
        flags = ", ".join(hardware.get("cpu_flags") or []) if hardware.get("device_type") == "cpu" else ""
        where = f" on {hardware.get('device')}" if hardware.get("device") else ""
        parts.append(f"{training['train_seconds']:.0f} s{where}{f' (CPU flags {flags})' if flags else ''}")
    return ", ".join(parts)


def dev_curve_text(training: dict) -> str:
    """'step: score' for each English-dev evaluation, the best marked with *; '-' for older cards."""
    curve = training.get("dev_curve") or []
    if not curve:
        return "-"
    best = max(score for _, score in curve)
    return ", ".join(f"{step}: {score:.3f}{'*' if score == best else ''}" for step, score in curve)


def convergence_text(card: Card) -> str:
    """'yes (…)' or '† no: still improving at its last step' (adaptx.convergence), '-' when unknown."""
    found = of_card(card.training.facts)
    if found["converged"] is None:
        return "-"
    return f"yes ({found['convergence']})" if found["converged"] else f"{MARK} no: {found['convergence']}"


def _data(data: dict) -> str:
    if not isinstance(data, dict):
        return "-"
    seed = data.get("sample_seed")
    return (f"train {_or_dash(data.get('train'))} ({_or_dash(data.get('train_rows'))} rows), dev "
            f"{_or_dash(data.get('dev'))} ({_or_dash(data.get('dev_rows'))} rows)"
            + ("" if seed is None else f", sample seed {seed}"))


def _what(card: Card) -> str:
    adapter, fusion = card.adapter, card.fusion
    if adapter:
        method = f"{adapter.method} adapter, reduction factor {adapter.reduction_factor}"
    else:
        method = "AdapterFusion"
    if fusion:
        method += f" over {', '.join(map(str, fusion.get('adapters') or [])) or '-'}"
    return f"{method}; head: {card.head.pooling} pooling, dropout {card.head.dropout}"


def _members(card: Card) -> str:
    def source(member):
        origin = member.source or {}
        return f"zoo:{origin['zoo']}" if isinstance(origin, dict) and "zoo" in origin else "its run's stage"

    return "; ".join(f"{m.name} ({m.task}, from {source(m)})" for m in card.members) or "-"


def format_card(entry: Path, card: Card) -> str:
    """The summary lines of a verified entry (its files are measured on disk); a field of an
    unexpected shape (a hand-made card) is an error that points at --json."""
    try:
        return _format(entry, card)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise AdaptxError(f"{entry / 'card.json'}: a field has an unexpected shape ({type(exc).__name__}: {exc}); "
                          f"`adaptx zoo show {entry.name} --json` prints the card as it is") from exc


def _labels(labels) -> str:
    shown = ", ".join(map(str, labels[:MAX_LABELS])) or "-"
    return shown if len(labels) <= MAX_LABELS else f"{shown}, … ({len(labels)} labels)"


def _format(entry: Path, card: Card) -> str:
    base, dev = card.base, card.en_dev
    value = dev.get("value")
    score = "-" if not isinstance(value, (int, float)) else f"{value:.3f}"
    step = f" at step {dev['step']}" if dev.get("step") is not None else ""
    rows = f" ({dev['rows']} rows)" if dev.get("rows") is not None else ""
    family = f", {base.family}" if base.family else ""
    sizes = {rel: (entry / rel).stat().st_size for rel in sorted(card.files)}
    width = max((len(rel) for rel in sizes), default=0)
    fields = [
        ("kind", kind_label(card.kind, card.strategy)),
        ("task", f"{card.task} (labels: {_labels(list(card.head.labels))})"),
        ("base", f"{base.id}{family} (fingerprint {base.fingerprint[:19]}…)"),
        ("method", _what(card)),
        ("members", _members(card)),
        ("English dev", f"{dev.get('metric')} {score}{step}{rows}"),
        ("vs trivial", versus_trivial_text(dev.get("versus_trivial")) or "-"),
        ("budget", budget_text(card.training.facts)),
        ("dev curve", dev_curve_text(card.training.facts)),
        ("converged", convergence_text(card)),
        ("data", _data(card.training.data)),
        ("languages", ", ".join(map(str, card.languages)) or "-"),
        ("seed", str(card.seed)),
        ("created", f"{card.created_at[:10]} with adaptx {card.adaptx_version}"),
    ]
    lines = [f"{card.name} (version {card.version}): verified, every file matches its card", ""]
    lines += [f"  {label + ':':<13}{text}" for label, text in fields]
    lines += ["", f"  files ({_size(sum(sizes.values()))}):"]
    lines += [f"    {rel:<{width}}  {_size(n):>9}" for rel, n in sizes.items()]
    tip = f"the whole card: `adaptx zoo show {card.name} --json`"
    if card.standalone:  # only an adapter trained on the base alone can be stacked or fused
        tip += f"; reuse it in a config as intermediate_tasks: [zoo:{card.name}]"
    lines += ["", tip]
    return "\n".join(lines)
