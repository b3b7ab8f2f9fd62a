"""Use a trained model: `adaptx.load(SOURCE)` and `adaptx predict SOURCE --input FILE`.

    predictor = adaptx.load("runs/quickstart")          # or a stage folder, or "zoo:NAME"
    predictor.predict([{"premise": "A man is eating.", "hypothesis": "Someone eats."}])
    # [{"label": "entailment", "score": 0.71, "probabilities": {...}}]

The model is rebuilt exactly as the run evaluated it (adaptx.modeling.load_model: its setup, head,
adapters and fusion, on the base whose weights it was trained on, in the dtype it was evaluated
in), and rows go through the same path as the run's evaluation rows: the task's kind encodes them,
decodes the model's outputs into predictions (kinds/*.py) and says them in words with their
probabilities. Batches are length-sorted as adaptx.train.predict sorts them, so the rows of an
evaluation file get the predictions written in it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .errors import AdaptxError
from .fileio import atomic_write_text, check_output_file, open_regular, os_error_text
from .fingerprint import base_fingerprint
from .kinds import get_kind
from .predict_sources import SavedModel, resolve
from .readers import tsv_reader
from .safe_yaml import shown
from .tasks import get_task

__all__ = ["Predictor", "load", "read_rows", "write_records"]


@dataclass
class Predictor:
    """A trained model with its tokenizer and task, ready to predict rows of that task."""

    model: object  # adaptx.modeling.TaskModel, in eval mode on `device`
    tokenizer: object
    task_entry: object  # adaptx.tasks.Task (its labels: the model's)
    max_length: int
    device: torch.device
    dtype: str
    stage: str | None  # the stage id (None: a zoo entry)
    source: str  # what was loaded, in words
    note: str = ""  # why this stage (a run folder's default)
    dtype_reason: str = ""  # why the base runs in `dtype` (adaptx predict prints it)

    @property
    def task(self) -> str:
        return self.task_entry.name

    @property
    def kind(self) -> str:
        return self.task_entry.kind

    @property
    def labels(self) -> list[str]:
        return list(self.task_entry.labels)

    @property
    def fields(self) -> str:
        """What one input row holds, in words."""
        return get_kind(self.kind).input_fields(self.task_entry)

    def __repr__(self) -> str:
        return (f"Predictor({self.task}, {self.kind}, {self.source}, {self.device.type} {self.dtype}; rows: "
                f"{self.fields})")

    def predict(self, rows, batch_size: int = 64) -> list[dict]:
        """One prediction per row, in order. A row is a dict of the task's fields (see `fields`; other
        fields are ignored, an `id` is copied to its prediction); a plain string is {"text": it}."""
        if isinstance(rows, (str, dict)):
            raise AdaptxError("predict() takes a list of rows; wrap a single row in a list: predict([row])")
        if isinstance(rows, (bytes, bytearray)) or not hasattr(rows, "__iter__"):
            raise AdaptxError(f"predict() takes a list of rows (each a dict with the fields {self.fields}, or a "
                              f"string), got {type(rows).__name__}")
        return self.predict_rows([(f"row {i + 1}", row) for i, row in enumerate(rows)], batch_size)

    def predict_rows(self, rows: list[tuple[str, object]], batch_size: int = 64) -> list[dict]:
        """predict() for (where, row) pairs: `where` (a file and line) names a row in errors."""
        check_batch_size(batch_size)
        return self.predict_checked(*checked_rows(self.task_entry, rows), batch_size)

    def predict_checked(self, rows: list[tuple[str, dict]], examples: list, batch_size: int) -> list[dict]:
        """predict_rows() for rows `checked_rows` already turned into this task's examples."""
        if not rows:
            return []
        kind = get_kind(self.kind)
        encoding = kind.encode(self.task_entry, examples, self.tokenizer, self.max_length)
        results, scores = self._run(kind, encoding, batch_size)
        records = kind.records(results, scores, encoding)
        return [{"id": row["id"], **record} if "id" in row else record for (_, row), record in zip(rows, records)]

    @torch.inference_mode()
    def _run(self, kind, encoding, batch_size: int) -> tuple[list, list]:
        """The kind's results and scores of every feature, in length-sorted batches."""
        from .train import forward_batch

        features = encoding.features
        order = sorted(range(len(encoding)), key=lambda i: (kind.group(features[i]), len(features[i])))
        results, scores = [None] * len(encoding), [None] * len(encoding)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch_features = [features[i] for i in idx]
            batch = kind.collate(batch_features, self.tokenizer.pad_token_id)
            outputs = forward_batch(self.model, batch, self.device)
            for i, result, score in zip(idx, kind.results(outputs, batch, batch_features),
                                        kind.scores(outputs, batch, batch_features)):
                results[i], scores[i] = result, score
        return results, scores


def load(source, stage: str | None = None, device: str = "auto", dtype: str | None = None, zoo=None,
         base: str | None = None) -> Predictor:
    """A Predictor for a run folder (its best evaluated target stage unless `stage` names one: a stage id,
    folder name or strategy), a stage folder, `zoo:NAME` (in `zoo`, else $ADAPTX_ZOO, else ./adapter_zoo)
    or a zoo entry folder. device: auto | cpu | cuda | cuda:N. dtype: the frozen base's (default: the one
    the model was evaluated in). base: the base model, when the run's name for it no longer loads (a moved
    folder); its weights must be the ones the model was trained on."""
    return load_saved(resolve(source, stage, zoo), device, dtype, base)


def load_saved(saved: SavedModel, device: str = "auto", dtype: str | None = None, base: str | None = None) -> Predictor:
    """load() for a saved model already resolved (predict_file checks its rows against the task first)."""
    task = _predicting_task(saved)
    from .models import load_base_model, saved_encoder_loader
    from .modeling import load_model
    from .runtime import Runtime, resolve_device

    name = base or saved.base
    if not name:
        raise AdaptxError(f"{saved.description}: the base model it was trained on is not recorded by name; pass "
                          "base= (--base): the folder or hub id of that base model")
    base_model = load_base_model(name, dtype="fp32", weights=False)
    if saved.identity and base_fingerprint(base_model.identity()) != base_fingerprint(saved.identity):
        raise AdaptxError(f"{saved.description} was trained on other weights than base model {name!r} has now "
                          f"({base_fingerprint(saved.identity)} vs {base_fingerprint(base_model.identity())}); pass "
                          "base= (--base) the exact base model it was trained on")
    target = resolve_device(device)
    runtime = Runtime(target, *prediction_dtype(saved.dtype, dtype, target))
    with _quiet("adapters.loading"):  # load_model loads each saved adapter over the one build_model added: expected
        model = load_model(saved.model_dir, saved_encoder_loader(base_model.source, runtime.dtype), saved.adapter_dirs,
                           runtime.autocast_dtype)
    if model.setup.kind != task.kind or model.setup.num_labels != len(task.labels):
        raise AdaptxError(f"{saved.model_dir}: a {model.setup.kind} model with {model.setup.num_labels} outputs, but "
                          f"its task {task.name} is {task.kind} with {len(task.labels)} labels here; it was trained "
                          "with another label set (another adaptx version?) or its folder was edited")
    max_length = min(saved.max_length, base_model.max_length())
    return Predictor(model.to(runtime.device), base_model.tokenizer, task, max_length, runtime.device, runtime.dtype,
                     saved.stage, saved.description, saved.note, runtime.dtype_reason)


def check_batch_size(batch_size) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise AdaptxError(f"batch size {batch_size!r}: expected a whole number of rows >= 1")


def checked_rows(task, rows: list[tuple[str, object]]) -> tuple[list[tuple[str, dict]], list]:
    """(where, row) pairs as dicts (a plain string is {"text": it}) and the task's example of each: every
    row's fields checked against the task, needing no model (so a bad file fails before the model loads)."""
    kind = get_kind(task.kind)
    fields = kind.input_fields(task)
    rows = [(where, {"text": row} if isinstance(row, str) else row) for where, row in rows]
    for where, row in rows:
        if not isinstance(row, dict):
            raise AdaptxError(f"{where}: expected an object with the fields {fields}, got {type(row).__name__}")
        problem = row_problem(row)
        if problem:
            raise AdaptxError(f"{where}: {problem}")
    return rows, [kind.example_from_row(task, row, where) for where, row in rows]


@contextmanager
def _quiet(name: str):
    """A library logger's warnings off for a moment (stderr tells what was predicted with, nothing else)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def prediction_dtype(evaluated: str, asked: str | None, device) -> tuple[str, str]:
    """(dtype, why) of the frozen base for predicting, by `run`'s rule: the dtype asked for; else the one the
    model was evaluated in where this device runs it natively, else what `auto` picks here (fp32 on a CPU
    without native bf16, where emulated bf16 is several times slower)."""
    from .runtime import resolve_dtype

    if asked:
        dtype, why = resolve_dtype(asked, device)
        return dtype, why if asked == "auto" else "asked for"
    if evaluated == "fp32":
        return "fp32", "the dtype it was evaluated in"
    auto, why = resolve_dtype("auto", device)
    if auto == evaluated:
        return evaluated, "the dtype it was evaluated in"
    return auto, (f"{why}; it was evaluated in {evaluated} (pass --dtype {evaluated} for that, slower here; "
                  "near-tie predictions can differ)")


def _predicting_task(saved: SavedModel):
    """The saved model's task, refused when its kind has no head that predicts input rows."""
    task = _task(saved)
    if not get_kind(task.kind).input_fields(task):
        raise AdaptxError(f"{saved.description}: a {task.kind} model ({task.name}) does not predict input rows")
    return task


def _task(saved: SavedModel):
    """The registry's task, with the labels the model was trained with (CCG reads them from its data)."""
    try:
        task = get_task(saved.task)
    except AdaptxError as exc:
        raise AdaptxError(f"{saved.description}: its task {saved.task!r} is not a registered task (a multi-task "
                          "mixture?); predicting covers single-task models") from exc
    return replace(task, labels=tuple(saved.labels)) if saved.labels else task


# -- files: JSON lines or TSV in, JSON lines out -----------------------------------------------

def read_rows(path) -> list[tuple[str, dict]]:
    """(where, row) of every row of a JSON-lines file (one object per line; '-': standard input) or a
    TSV file with a header row. Strict UTF-8 and strict JSON (no NaN or Infinity), at least one row."""
    text = str(path)
    if text == "-":
        rows = _json_rows("<stdin>", _stdin_text().splitlines(keepends=True))
        if not rows:
            raise AdaptxError("--input -: no rows on standard input (it was empty); pipe JSON lines into it, or pass "
                              "a file")
        return rows
    path = Path(text)
    if not os.path.lexists(path):
        raise AdaptxError(f"--input {path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".tsv"):
        raise AdaptxError(f"--input {path}: expected a .jsonl file (one JSON object per line) or a .tsv file (a "
                          f"header row naming the fields, then one row per line), not {suffix or 'no extension'}")
    try:
        handle = open_regular(path, encoding="utf-8-sig", newline="" if suffix == ".tsv" else None)
    except AdaptxError as exc:  # a FIFO, socket or device
        raise AdaptxError(f"--input {exc}") from None
    except OSError as exc:
        raise AdaptxError(f"--input {os_error_text(exc, path)}") from exc
    with handle:
        try:
            rows = _tsv_rows(path, handle) if suffix == ".tsv" else _json_rows(path, handle)
        except UnicodeDecodeError as exc:
            raise AdaptxError(f"--input {path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    if not rows:
        raise AdaptxError(f"--input {path}: no rows")
    return rows


def _stdin_text() -> str:
    """Standard input decoded as strict UTF-8 (Python's own decoding would let bad bytes through as
    lone surrogates, which reach the tokenizer as a TypeError)."""
    # a text-only stdin (an embedding program's): its surrogates kept as bytes, so decoding refuses them
    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8",
                                                                                                "surrogatepass")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AdaptxError(f"--input -: standard input is not UTF-8 text (byte {exc.start}: {exc.reason})") from None


def _not_json(name: str):
    raise ValueError(f"{name}: JSON has no NaN or Infinity")


def _json_rows(name, lines) -> list[tuple[str, dict]]:
    rows = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}, line {line_no}"
        try:
            row = json.loads(line, parse_constant=_not_json)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; so is NaN refused
            reason = getattr(exc, "msg", None) or (str(exc) if isinstance(exc, ValueError) else "nested too deeply")
            raise AdaptxError(f"{where}: not a JSON object ({reason}); expected one object per line") from None
        if not isinstance(row, dict):
            raise AdaptxError(f"{where}: expected a JSON object, got {type(row).__name__}")
        rows.append((where, row))
    return rows


def _tsv_rows(path: Path, handle) -> list[tuple[str, dict]]:
    header, rows = None, []
    for line_no, cells in enumerate(tsv_reader(handle), start=1):
        if not cells or cells == [""]:
            continue
        if header is None:
            header = cells
            continue
        if len(cells) != len(header):  # a stray tab would shift the text into the wrong field
            raise AdaptxError(f"{path}, line {line_no}: {len(cells)} tab-separated fields, but the header "
                              f"({', '.join(header)}) has {len(header)}")
        rows.append((f"{path}, line {line_no}", dict(zip(header, cells))))
    return rows


def row_problem(row: dict) -> str | None:
    """What in a row cannot be text or JSON: a lone surrogate in a string (bad bytes decoded with
    'surrogateescape', a JSON \\ud800 escape), a NaN or infinite number, an id JSON cannot write."""
    if "id" in row:
        try:
            json.dumps(row["id"], allow_nan=False)
        except (TypeError, ValueError):
            return f"id {shown(row['id'])}: expected a string or a finite number (it is written back as JSON)"
    todo = [(key, value, 0) for key, value in row.items()]
    while todo:
        key, value, depth = todo.pop()
        if isinstance(key, str) and _has_surrogate(key):
            return f"field name {key!r} holds a lone surrogate, not a Unicode character; pass valid UTF-8 text"
        if isinstance(value, str) and _has_surrogate(value):
            return (f"field {key!r} holds a lone surrogate ({shown(value)}), not a Unicode character; pass valid "
                    "UTF-8 text")
        if isinstance(value, float) and not math.isfinite(value):
            return f"field {key!r} is {value}, not a JSON value; give a finite number or text"
        if isinstance(value, (list, tuple)) and depth < 20:  # tokens, choices: one level in practice
            todo += [(key, item, depth + 1) for item in value]
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def write_records(records: list[dict], out=None) -> None:
    """JSON lines, one prediction per line: to `out`, else standard output."""
    try:
        text = "".join(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n" for record in records)
    except (TypeError, ValueError) as exc:
        raise AdaptxError(f"a prediction cannot be written as JSON ({exc})") from None
    if out is None:
        sys.stdout.write(text)
        return
    atomic_write_text(Path(out), text)


def check_out(out, input_path, source) -> Path:
    """--out, before anything is read: a writable file path that is not the input (predictions never
    replace the rows they came from) and not inside the folder predicted with (its files stay as written)."""
    out = check_output_file(out, "--out")
    if str(input_path) != "-" and os.path.lexists(input_path) and _same_file(out, Path(input_path)):
        raise AdaptxError(f"--out {out} is the --input file; predictions never replace the rows they come from: "
                          "write them to another file")
    folder = Path(str(source)).expanduser()
    if folder.is_dir() and out.resolve().is_relative_to(folder.resolve()):
        raise AdaptxError(f"--out {out} is inside {folder}, the folder predicted with; its files stay as they were "
                          "written: write the predictions outside it")
    return out


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def predict_file(source, input_path, out=None, stage=None, device="auto", dtype=None, zoo=None, base=None,
                 batch_size: int = 64) -> tuple[int, Predictor]:
    """`adaptx predict`: predict every row of `input_path` (read before the model loads, so a malformed
    file fails at once) and write the predictions. Returns (rows, predictor)."""
    if out is not None:
        out = check_out(out, input_path, source)
    rows = read_rows(input_path)
    saved = resolve(source, stage, zoo)
    rows, examples = checked_rows(_predicting_task(saved), rows)  # every row's fields, before the model loads
    check_batch_size(batch_size)
    predictor = load_saved(saved, device, dtype, base)
    write_records(predictor.predict_checked(rows, examples, batch_size), out)
    return len(rows), predictor
