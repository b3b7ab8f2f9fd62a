"""One full check of a safetensors file, before any library opens it.

API (the whole of it):
    safetensors_problem(path) -> str | None
        None when `path` is a sound safetensors file; else one line that names the file and says
        what is wrong with it. Never raises for a bad file (an unreadable one is a problem too).
    check_safetensors(path) -> None
        The same check; raises adaptx.errors.AdaptxError with that line.
    tensor_shapes(path) -> dict[str, tuple[int, ...]]
        After the same check: each tensor's name and shape, read from the header (what a loader
        compares with the model the file is loaded into).
    MAX_HEADER_BYTES, DTYPE_BITS: the limits it applies.

The format (huggingface/safetensors, tensor.rs): 8 bytes little-endian header length N, N bytes
of UTF-8 JSON, then the data section. The JSON is an object: tensor name -> {"dtype", "shape",
"data_offsets": [begin, end]} (offsets into the data section), plus an optional "__metadata__"
str -> str map. The checks are those the library makes when it loads the file -- header at most
100 MB; tensors, sorted by offsets, tile the data section from 0 with no gap or overlap; each
tensor's byte size is numel x dtype size; the file ends where the last tensor does -- and a few
stricter ones: duplicate JSON keys are refused (two readers could pick different ones), dtypes
must be ones torch can hold (safetensors.torch's table), and JSON nested too deeply for Python's
parser is a problem, not a RecursionError. The header is read with a bounded size and never
evaluated; the data section is never read. A file that passes loads in safetensors without a
header or offset error (so a bad file is refused before a run folder or zoo entry is written).
"""

from __future__ import annotations

import json
import os
import reprlib
import stat
from pathlib import Path

from .errors import AdaptxError

MAX_HEADER_BYTES = 100_000_000  # the library's own limit (MAX_HEADER_SIZE)
# dtype -> bits per element: the format's byte-aligned dtypes that safetensors.torch maps to torch
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
              "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64,
              "F64": 64, "I64": 64, "U64": 64}
METADATA_KEY = "__metadata__"


class _Bad(Exception):
    """What is wrong with the file (internal: turned into the one-line problem)."""


def safetensors_problem(path: str | Path) -> str | None:
    """None for a sound safetensors file, else one line naming the file and the defect."""
    path = Path(path)
    try:
        _check(path)
    except _Bad as bad:
        return f"{path}: not a safetensors file ({bad}); weights must be real safetensors files"
    except OSError as exc:
        return f"{path}: unreadable ({exc.strerror or exc})"
    return None


def check_safetensors(path: str | Path) -> None:
    """Raise AdaptxError naming the file unless it is a sound safetensors file."""
    problem = safetensors_problem(path)
    if problem:
        raise AdaptxError(problem)


def tensor_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """name -> shape of every tensor in a sound safetensors file (AdaptxError for an unsound one)."""
    path = Path(path)
    try:
        header = _check(path)
    except _Bad as bad:
        raise AdaptxError(f"{path}: not a safetensors file ({bad}); weights must be real safetensors files") from None
    except OSError as exc:
        raise AdaptxError(f"{path}: unreadable ({exc.strerror or exc})") from None
    return {name: tuple(entry["shape"]) for name, entry in header.items() if name != METADATA_KEY}


def _check(path: Path) -> dict:
    info = os.stat(path)  # follows a link: the caller decides whether links are allowed
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
        raise _Bad("not a regular file")
    size = info.st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise _Bad(f"{size} bytes, shorter than the 8-byte header length")
        length = int.from_bytes(head, "little")
        if length > MAX_HEADER_BYTES:
            raise _Bad(f"header length {length} bytes, over the format's limit of {MAX_HEADER_BYTES}")
        if length < 2 or length > size - 8:
            raise _Bad(f"header length {length} bytes in a file of {size} bytes")
        header = _parse_header(handle.read(length))
    data_size = size - 8 - length
    end = _check_tensors(header)
    if end != data_size:
        raise _Bad(f"the tensors cover {end} bytes of a {data_size}-byte data section")
    return header


def _no_duplicates(pairs: list) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _Bad(f"the header names {_short(duplicate)} twice")
    return found


def _parse_header(raw: bytes) -> dict:
    try:
        text = raw.decode("utf-8")  # strict: json.loads(bytes) would also guess UTF-16/32
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:  # json's parser recurses once per nesting level
        raise _Bad("its header is JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an int over Python's digit limit
        raise _Bad(f"its header is not UTF-8 JSON: {type(exc).__name__}: {str(exc)[:80]}") from None
    if not isinstance(header, dict):
        raise _Bad(f"its header is a JSON {type(header).__name__}, not an object")
    return header


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_tensors(header: dict) -> int:
    """The end of the last tensor, after checking every entry and that they tile the data section."""
    spans = []
    for name, entry in header.items():
        if name == METADATA_KEY:
            if entry is not None and not (isinstance(entry, dict) and all(
                    isinstance(v, str) for v in entry.values())):
                raise _Bad(f"{METADATA_KEY} must map strings to strings")
            continue
        problem = _tensor_problem(entry)
        if problem:
            raise _Bad(f"tensor {_short(name)}: {problem}")
        spans.append((*entry["data_offsets"], name))
    end = 0
    for begin, stop, name in sorted(spans):
        if begin != end:  # the library requires each tensor to start where the one before it ended
            detail = "overlaps the tensor before it" if begin < end else f"leaves a gap at byte {end}"
            raise _Bad(f"tensor {_short(name)}: data_offsets [{begin}, {stop}] {detail}")
        end = stop
    return end


def _tensor_problem(entry) -> str | None:
    if not isinstance(entry, dict):
        return "expected an object with dtype, shape and data_offsets"
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        return f"dtype {_short(dtype)}; expected one of {', '.join(DTYPE_BITS)}"
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        return f"shape {_short(shape)}; expected a list of non-negative integers"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)
            and offsets[0] <= offsets[1]):
        return f"data_offsets {_short(offsets)}; expected [begin, end] with 0 <= begin <= end"
    span = offsets[1] - offsets[0]
    numel = _numel(shape, span)
    needed = None if numel is None else numel * DTYPE_BITS[dtype] // 8
    if span != needed:
        need = f"needs {needed}" if needed is not None else "needs far more"
        return f"data_offsets {offsets} hold {span} bytes; {dtype} of shape {_short(shape)} {need}"
    return None


def _numel(shape: list, span: int) -> int | None:
    """The element count, or None when it is more than `span` bytes could hold (a hostile shape of
    huge dimensions would otherwise cost a huge multiplication, and a number too long to print)."""
    if 0 in shape:
        return 0
    numel = 1
    for dim in shape:
        numel *= dim
        if numel > span * 8:
            return None
    return numel


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxstring, _REPR.maxother = 3, 8, 50, 50


def _short(value) -> str:
    """A repr short enough for one line, whatever a hostile header holds (bounded depth and length)."""
    return _REPR.repr(value)
