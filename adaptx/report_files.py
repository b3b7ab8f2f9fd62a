"""The files a report reads, checked field by field before any of them is used.

results.json (flat records), the prediction files its records point to, and the context in
results-summary.json live in run folders that people copy, share and edit by hand. Every defect
-- a missing key, a wrong type, a non-finite number, JSON nested too deeply, a prediction path
leading out of the run folder -- becomes one message naming the file and the field, so that
`adaptx report` can say what is wrong and still print the rest.
"""

from __future__ import annotations

import math
import reprlib
from pathlib import Path

from .errors import AdaptxError
from .run_folder import RunFolder

RERUN = "rerun `adaptx run` with the run's config to re-evaluate"
# field -> (expected, what it is): every field a results.json record has, in the order written
RECORD_FIELDS = {
    "task": ((str,), "a task name"), "strategy": ((str,), "a strategy name"),
    "intermediate": ((str, type(None)), "an intermediate-task label or null"), "language": ((str,), "a language code"),
    "split": ((str,), "a split name"), "metric": ((str,), "a metric name"), "value": ((int, float), "a number"),
    "seed": ((int,), "an integer"), "n": ((int,), "a count of examples"), "predictions": ((str,), "a file path"),
}
# what a record may also say of the stage behind it (adaptx.convergence.stage_facts); older records lack them
OPTIONAL_FIELDS = {
    "budget": (lambda v: v is None or v == "auto" or (type(v) is int and v > 0), "a number of steps, 'auto' or null"),
    "steps": (lambda v: v is None or (type(v) is int and v >= 0), "a number of steps or null"),
    "converged": (lambda v: v is None or type(v) is bool, "true, false or null"),
    "intermediate_converged": (lambda v: v is None or type(v) is bool, "true, false or null"),
    "same_data": (lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v), "a list of task names"),
    "kernels": (lambda v: isinstance(v, str) and 0 < len(v) <= 200, "the kernels that trained the stage, in words"),
}
ID_LIMIT = 2**63  # example ids are int64 in the bootstrap

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 2, 4, 4, 40, 40


def short(value) -> str:
    """A bounded repr of whatever a hand-edited file holds."""
    return _REPR.repr(value)


def record_problem(record, finite: bool = False) -> str | None:
    """What is wrong with one record ('lacks ...' or 'field ...'), or None. finite: also refuse a
    value that is NaN or infinite (the report does; the pipeline's own records are taken as scored)."""
    if not isinstance(record, dict):
        return f" is {short(record)}: expected an object with {', '.join(RECORD_FIELDS)}"
    missing = [k for k in RECORD_FIELDS if k not in record]
    if missing:
        return f" lacks {', '.join(missing)} (each record needs {', '.join(RECORD_FIELDS)})"
    for key, (types, what) in RECORD_FIELDS.items():
        value = record[key]
        bad = not isinstance(value, types) or isinstance(value, bool)
        bad = bad or (key == "n" and value < 0) or (key in ("task", "metric", "language", "predictions") and not value)
        if not bad and key == "value" and finite and not math.isfinite(value):
            return f", field 'value': {value}, expected a finite number"
        if bad:
            return f", field {key!r}: {short(value)}, expected {what}"
    for key, (fits, what) in OPTIONAL_FIELDS.items():
        if key in record and not fits(record[key]):
            return f", field {key!r}: {short(record[key])}, expected {what}"
    return None


def check_records(records, source: str, finite: bool = False) -> None:
    """Raise for the first malformed record (the strict check of write_results and summarize)."""
    if not isinstance(records, list):
        raise AdaptxError(f"{source}: expected a JSON list of records, got {type(records).__name__}")
    for i, record in enumerate(records):
        problem = record_problem(record, finite)
        if problem:
            raise AdaptxError(f"{source}: record {i}{problem}")


def usable_records(records: list, source: str) -> tuple[list[tuple[int, dict]], list[str]]:
    """([(index, record)] of the well-formed records, one message per malformed one): a report prints what it can."""
    good, problems = [], []
    for i, record in enumerate(records):
        problem = record_problem(record, finite=True)
        if problem:
            problems.append(f"{source}: record {i}{problem}; record left out")
        else:
            good.append((i, record))
    return good, problems


def prediction_path(run_dir: Path, relative: str) -> Path:
    """The prediction file a record names, refused unless it resolves (links followed) inside the run folder."""
    root = RunFolder.of_results(run_dir).path
    path = Path(run_dir) / relative
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL byte
        inside = False
    if not inside:
        raise AdaptxError(f"{RunFolder(run_dir).results_file}: predictions {short(relative)} leads outside the run "
                          f"folder {root}; prediction files live in its stages/ folder: restore the path the run "
                          f"wrote, or {RERUN}")
    return path


def evaluation_lists(entry, path: Path, lang: str) -> tuple[list, list, list]:
    """(ids, pred, gold) of one language's entry in a prediction file, checked."""
    where = f"{path} [{lang}]"
    if not isinstance(entry, dict) or not {"ids", "pred", "gold"} <= entry.keys():
        raise AdaptxError(f"{path}: no ids/pred/gold for language {lang!r}; {RERUN}")
    for key in ("ids", "pred", "gold"):
        if not isinstance(entry[key], list):
            raise AdaptxError(f"{where}: field {key!r}: {short(entry[key])}, expected a list; {RERUN}")
    bad = [i for i in entry["ids"] if not isinstance(i, int) or isinstance(i, bool) or abs(i) >= ID_LIMIT]
    if bad:
        raise AdaptxError(f"{where}: field 'ids': {short(bad[0])} is not an example id (an integer); {RERUN}")
    return entry["ids"], entry["pred"], entry["gold"]


def evaluation_items(entry: dict, path: Path, lang: str) -> list | None:
    """The entry's `items` (each example's item id across languages: MLQA's question ids), checked; None
    where the file has none (other tasks, and files written before adaptx recorded them)."""
    items = entry.get("items")
    if items is None:
        return None
    if not isinstance(items, list) or len(items) != len(entry["ids"]) or not all(isinstance(i, str) for i in items):
        raise AdaptxError(f"{path} [{lang}]: field 'items': expected one question id (a string) per example; {RERUN}")
    return items


def score(metric, pred: list, gold: list, where: str) -> float:
    """The metric on hand-editable predictions: values of the wrong kind are a message, not a traceback."""
    try:
        value = 100 * metric.compute(pred, gold)
    except AdaptxError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        raise AdaptxError(f"{where}: pred/gold are not what metric {getattr(metric, 'name', '')!r} scores "
                          f"({type(exc).__name__}: {str(exc)[:80]}); {RERUN}") from exc
    if not math.isfinite(value):
        raise AdaptxError(f"{where}: pred/gold score {value}; {RERUN}")
    return value


def context_problem(context) -> str | None:
    """What is wrong with results-summary.json's `context` (targets, missing, base_family), or None."""
    if not isinstance(context, dict):
        return f"context: {short(context)}, expected an object"
    targets, missing = context.get("targets"), context.get("missing", {})
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        return f"context.targets: {short(targets)}, expected a list of task names"
    if not isinstance(missing, dict) or not all(
            isinstance(v, list) and all(isinstance(lang, str) for lang in v) for v in missing.values()):
        return f"context.missing: {short(missing)}, expected task -> list of languages"
    if not isinstance(context.get("base_family"), (str, type(None))):
        return f"context.base_family: {short(context.get('base_family'))}, expected a name or null"
    used = context.get("zoo_adapters", {})
    if not isinstance(used, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in used.items()):
        return f"context.zoo_adapters: {short(used)}, expected task -> zoo:NAME"
    return None
