"""Rescoring a zoo entry against its card: load it as `zoo:NAME` on the base its card names and
score its English dev metric again on exactly the rows the card records (`adaptx zoo verify
--rescore`). A workflow above the zoo and the run's data catalog, so the zoo itself never loads
models or data."""

from __future__ import annotations

import json
from pathlib import Path

from .config import load_config
from .errors import AdaptxError
from .kernels import LEGACY_CARD_KERNELS, describe_kernels, kernels, same_kernels
from .kinds import get_kind
from .metrics import metric_for_language
from .modeling import load_model
from .models import load_base_model, saved_encoder_loader
from .packs import resolve_data_dir
from .rundata import RunData
from .runtime import make_runtime
from .tasks import get_task
from .train import predict
from .zoo_card import CARD_FILE, STANDALONE, Card, entry_adapter_dirs
from .zoo_index import entry_dirs
from .zoo_resolve import check_trained_on, require_entry
from .zoo_verify import read_json_object
from .zoo_refs import ZOO_PREFIX

CROSS_KERNEL_SHARE = 0.005  # of the rows, at least one: see cross_kernel_rows


def rescore_entry(zoo: Path, name: str, data_dir, device: str = "auto") -> dict:
    """Load a standalone entry as `zoo:NAME` (verified, on the base its card names, whose fingerprint
    must match) and score its English dev metric again on the rows its card records: the card's
    data file (sha256), row count and sampling seed, checked against the sampled rows' digest, in
    the card's dtype. Returns the score beside the card's."""
    entry, card = require_entry(zoo, name)
    if not card.standalone:
        raise AdaptxError(f"zoo:{name} is a {card.kind} entry ({card.strategy}); rescoring loads an entry as "
                          "zoo:NAME, which only an intermediate or `none` adapter entry can be")
    training, data = card.training, _rescore_fields(name, card)
    # the config of a run that would stack this entry: its base, dtype, sequence length and dev sample
    overrides = [f"base_model={json.dumps(card.base.id)}", f"intermediate_tasks=[{ZOO_PREFIX}{name}]",
                 "strategies=[stack]", "languages=[en]", f"max_seq_length={training.max_seq_length or 128}",
                 f"base_dtype={training.dtype or 'auto'}", f"device={device}", "data.source=local",
                 f"data.max_dev_examples={data['dev_rows']}", f"data.sample_seed={data.get('sample_seed') or 0}",
                 f"zoo_dir={json.dumps(str(zoo))}"]
    overrides += _mixture_overrides(name, card)
    cfg = load_config(None, overrides)
    runtime = make_runtime(cfg.device, cfg.base_dtype)
    base = load_base_model(cfg.base_model, dtype="fp32", weights=False)
    check_trained_on(entry, card, base.identity())  # the entry was verified above; now: this exact base
    rundata = RunData(cfg, resolve_data_dir(data_dir, cfg), base.tokenizer)
    task = card.task
    dev = rundata.data(task, "dev")
    got = rundata.data_recipe(task, "dev")
    wanted = {"content": data["dev_sha256"], "n": data["dev_rows"], "rows": data.get("dev_ids_digest") or got["rows"]}
    if got != wanted:
        raise AdaptxError(f"zoo:{name}: the English dev rows of {rundata.origin(task, 'dev')} (sha256 "
                          f"{got['content'][:12]}…, {got['n']} rows, sample {got['rows']}) are not those its card "
                          f"records ({data['dev']}: sha256 {str(wanted['content'])[:12]}…, {wanted['n']} rows, sample "
                          f"{wanted['rows']}); rescoring needs the same data file and sample")
    model = load_model(entry, saved_encoder_loader(base.source, runtime.dtype), entry_adapter_dirs(entry, card),
                       runtime.autocast_dtype)
    preds = predict(model.to(runtime.device), dev, base.tokenizer.pad_token_id, runtime=runtime)
    en_dev = card.en_dev
    value = metric_for_language(en_dev["metric"], "en").compute(preds, get_kind(dev.kind).golds(dev))
    # rows: examples, as the card counts them (a QA question may span several windows of `dev`)
    recorded = en_dev.get("predictions")
    agree = (sum(a == b for a, b in zip(preds, recorded)) if isinstance(recorded, list) and len(recorded) == len(preds)
             else None)
    return {"name": name, "task": task, "metric": en_dev["metric"], "value": value, "card_value": en_dev["value"],
            "rows": got["n"], "dtype": runtime.dtype, "device": runtime.device_name(),
            "kernels": kernels(runtime.device), "card_kernels": card_kernels(card.training.hardware),
            "agreeing_rows": agree, "compared_rows": len(preds) if agree is not None else None}


def card_kernels(hardware: dict | None) -> dict:
    """The kernels that scored a card (its training.hardware.kernels); cards published before adaptx
    recorded them were all scored by oneDNN's AVX512-BF16 kernels on a CPU."""
    found = hardware.get("kernels") if hardware else None
    return found if isinstance(found, dict) and found else dict(LEGACY_CARD_KERNELS)


def cross_kernel_rows(rows: int) -> int:
    """How many of `rows` predictions may differ between two kernel sets: near-ties that flip when
    products are summed in another order (one row of QQP's 1000 on AVX2 vs AVX512-BF16). A wrong
    adapter, head or row sample changes far more."""
    return max(1, int(CROSS_KERNEL_SHARE * rows))


def verdict(got: dict, tolerance: float) -> tuple[bool, str]:
    """(passes, what the line says): exact (within `tolerance`) on the card's kernels; on other kernels,
    at most cross_kernel_rows() rows may differ (counted row by row where the card holds its
    predictions, else the score difference in rows)."""
    diff = got["value"] - got["card_value"]
    if same_kernels(got["kernels"], got["card_kernels"]):
        ok = abs(diff) <= tolerance
        return ok, "reproduced" if ok else f"differs by {diff:+.4f} on the card's own kernels"
    allowed = max(cross_kernel_rows(got["rows"]), int(tolerance * got["rows"]))
    if got["agreeing_rows"] is not None:
        differing, counted = got["compared_rows"] - got["agreeing_rows"], "predictions differ"
    else:
        differing, counted = round(abs(diff) * got["rows"]), "rows net (the card holds no per-row predictions)"
    ok = differing <= allowed
    where = (f"other kernels (card: {describe_kernels(got['card_kernels'])}; here: {describe_kernels(got['kernels'])})")
    agreement = (f", {got['agreeing_rows']}/{got['compared_rows']} predictions agree"
                 if got["agreeing_rows"] is not None else "")
    return ok, (f"{'reproduced within' if ok else 'differs beyond'} the cross-kernel tolerance on {where}: "
                f"{diff:+.4f}, {differing} {counted}, at most {allowed} of {got['rows']} allowed{agreement}")


def _mixture_overrides(name: str, card: Card) -> list[str]:
    """A multi-task entry's dev rows are its mixture's: the same tasks, cap and per-task dev sample
    (the config's `multitask` names the mixture; RunData builds its dev split as training did)."""
    try:
        get_task(card.task)
        return []
    except AdaptxError:
        pass
    mixture, max_dev = card.training.mixture, card.training.data.get("max_dev_examples")
    if not (mixture and isinstance(mixture.get("tasks"), list) and isinstance(max_dev, int)):
        raise AdaptxError(f"zoo:{name}: task {card.task!r} is not a registered task, and its card does not record "
                          "a mixture (training.mixture.tasks, training.data.max_dev_examples) to rebuild its dev rows "
                          "from; publish the entry again from its stage")
    return [f"intermediate_tasks=[{card.task}]", f"multitask.tasks={json.dumps(mixture['tasks'])}",
            f"multitask.cap={json.dumps(mixture.get('cap'))}", f"data.max_dev_examples={max_dev}"]


def _rescore_fields(name: str, card: Card) -> dict:
    """The card's training.data, after checking the fields rescoring reads (a verified card has
    training.data and metrics.en_dev, but what is inside them is the publisher's)."""
    training, data, en_dev = card.training, card.training.data, card.en_dev
    fields = [  # (card field, value, type, may be null)
        ("training.data.dev", data.get("dev"), str, False),
        ("training.data.dev_sha256", data.get("dev_sha256"), str, False),
        ("training.data.dev_rows", data.get("dev_rows"), int, False),
        ("training.data.sample_seed", data.get("sample_seed"), int, True),
        ("training.data.dev_ids_digest", data.get("dev_ids_digest"), str, True),
        ("training.max_seq_length", training.max_seq_length, int, True),
        ("training.dtype", training.dtype, str, True),
        ("metrics.en_dev.metric", en_dev.get("metric"), str, False),
        ("metrics.en_dev.value", en_dev.get("value"), (int, float), False)]
    wrong = [field for field, value, kind, nullable in fields if not (
        (nullable and value is None) or (isinstance(value, kind) and not isinstance(value, bool)))]
    if wrong:
        raise AdaptxError(f"zoo:{name}: its card has missing or mistyped fields for rescoring ({', '.join(wrong)}); "
                          "publish the entry again from its stage")
    return data


def rescore_zoo(zoo: Path, name: str | None, data_dir, device: str = "auto",
                tolerance: float = 0.0) -> tuple[list[str], list[str]]:
    """(report lines, problems): rescore one entry, or every standalone entry of the zoo; a score
    further than `tolerance` from its card's is a problem."""
    names = [name] if name else [p.name for p in entry_dirs(zoo)]
    lines, problems = [], []
    for entry in names:
        try:
            if not name and read_json_object(zoo / entry / CARD_FILE, "").get("strategy") not in STANDALONE:
                lines.append(f"{entry}: not rescored (a stack or fusion entry cannot be loaded as zoo:NAME)")
                continue
            got = rescore_entry(zoo, entry, data_dir, device)
        except AdaptxError as exc:
            problems.append(f"{entry}: not rescored: {exc}")
            continue
        ok, said = verdict(got, tolerance)
        line = (f"{entry}: English dev {got['metric']} {got['value']:.4f} on {got['rows']} rows ({got['dtype']}, "
                f"{got['device']}); card {got['card_value']:.4f}: {said}")
        lines.append(line)
        if not ok:
            problems.append(line + f" (tolerance {tolerance}; another device, dtype or CPU kernel can flip near-tie predictions: "
                                    "on a CPU with amx_bf16, ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 gives the kernels of CPUs without it)")
    return lines, problems
