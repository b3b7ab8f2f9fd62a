"""Every example a user can copy works from an empty folder (issue 34): the `adaptx ...` lines of
README.md, docs/*.md and every `--help`, block by block, through tests/run_examples.py.

By default every example is parsed (argparse, and its config resolved and loaded with its overrides)
and the cheap ones run: help, config, zoo list/show/verify, report and analyze on a small simulated
run. With ADAPTX_SLOW_TESTS=1 the rest runs too: what trains (`--smoke` added), loads a model or needs
a trained run (minutes each; ADAPTX_EXAMPLES_MATCH=REGEX keeps the blocks where it finds a line).
What needs the Hugging Face hub is parsed only; what needs the reference data folder skips, with the
reason, where it is absent. Also here: `configs/NAME.yaml` from any folder is the shipped config NAME, with a note.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import run_examples
from adaptx.cli import build_parser, main
from adaptx.errors import AdaptxError
from adaptx.shipped import configs_dir, resolve_config

BLOCKS = run_examples.all_blocks()
MATCH = os.environ.get("ADAPTX_EXAMPLES_MATCH")
NOTE = "adaptx: configs/quickstart.yaml is not here; using the shipped config quickstart (adaptx config show quickstart)"


def _failures(results) -> list[str]:
    return [f"{r.example.source}: {r.example.shown}\n    {r.detail}" for r in results if r.status == "FAILED"]


def _run(runner, block):
    results = runner.run_block(block)
    assert not _failures(results), "\n".join(_failures(results))
    if results and all("reference data folder" in r.detail for r in results if r.example.argv is not None):
        pytest.skip(f"{block.source}: every example needs the reference data folder, which is absent")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.source for b in BLOCKS])
def test_every_example_parses_and_the_cheap_ones_run(block):
    _run(run_examples.Runner(data=run_examples.data_folder(None)), block)


@pytest.fixture(scope="module")
def full_runner():
    runner = run_examples.Runner(full=True, data=run_examples.data_folder(None))
    yield runner
    runner.close()


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[b.source for b in BLOCKS])
def test_every_example_runs_with_smoke_where_it_trains(block, full_runner):
    if MATCH and not re.search(MATCH, block.mentions):
        pytest.skip(f"ADAPTX_EXAMPLES_MATCH={MATCH!r} does not name this block")
    _run(full_runner, block)


def test_the_examples_are_found_in_every_help_and_the_pages():
    """The extraction itself: every command's help ends with examples that are commands of that
    command, and the pages' blocks hold runnable examples, not only synopses."""
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    helps = {b.source: b for b in BLOCKS if b.source.endswith("--help")}
    assert set(helps) == {"adaptx --help"} | {f"adaptx {c} --help" for c in commands}
    for name in commands:
        examples = [e for e in helps[f"adaptx {name} --help"].examples if e.argv is not None]
        assert examples and all(name in e.argv for e in examples), name
    runnable = [e for b in BLOCKS if not b.source.endswith("--help") for e in b.examples
                if e.argv is not None and not run_examples.is_synopsis(e)]
    assert len(runnable) >= 30 and any(e.source.startswith("README.md") for e in runnable)


def test_a_synopsis_is_told_from_an_example():
    def example(text):
        return run_examples._example("x", text)

    for text in ("adaptx run CONFIG [--out DIR]", "adaptx --help | --version", "python -m adaptx ...",
                 "accelerate launch --num_processes N -m adaptx run configs/quickstart.yaml"):
        assert run_examples.is_synopsis(example(text)), text
    for text in ("adaptx run configs/quickstart.yaml train.target_steps=50 strategies=[none,stack]",
                 "adaptx zoo verify --rescore --data-dir DATA", "adaptx report runs/quickstart --format csv > q.csv",
                 """echo '{"text": "A film."}' | adaptx predict zoo:sst2-e5small-s0 --input -"""):
        assert not run_examples.is_synopsis(example(text)), text
    assert example("echo '{}' | adaptx predict zoo:x --input -").argv == ["predict", "zoo:x", "--input", "-"]


# -- configs/NAME.yaml from any folder -----------------------------------------------------------

def test_the_docs_path_of_a_shipped_config_works_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert resolve_config("configs/quickstart.yaml") == configs_dir() / "quickstart.yaml"
    assert capsys.readouterr().err.strip() == NOTE
    assert resolve_config("./configs/xtreme/xnli.yaml") == configs_dir() / "xtreme" / "xnli.yaml"
    assert "using the shipped config xtreme/xnli" in capsys.readouterr().err
    assert main(["config", "show", "configs/xtreme/xnli.yaml"]) == 0
    assert capsys.readouterr().out == (configs_dir() / "xtreme" / "xnli.yaml").read_text(encoding="utf-8")


def test_a_file_of_ones_own_at_that_path_wins(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "quickstart.yaml").write_text("strategies: [none]\n")
    assert resolve_config("configs/quickstart.yaml") == Path("configs/quickstart.yaml")
    assert capsys.readouterr().err == ""


def test_a_path_neither_here_nor_shipped_keeps_its_error_and_names_config_list(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for path in ("configs/my-experiment.yaml", "my-experiment.yaml", "elsewhere/configs/quickstart.yaml"):
        assert main(["run", path]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"adaptx: error: cannot read config {path}: No such file or directory")
        assert "`adaptx config list`" in err and "using the shipped config" not in err


def test_run_search_and_rank_resolve_the_same_way(tmp_path, monkeypatch, capsys):
    """run_experiment (through load_run_config), `adaptx search` and `adaptx rank` read configs/NAME.yaml
    from any folder; each stops here at its first check after the config (no model loads)."""
    from adaptx.commands.rank import run_rank
    from adaptx.run_open import load_run_config

    monkeypatch.chdir(tmp_path)
    assert load_run_config("configs/quickstart.yaml").name == "quickstart"
    assert NOTE in capsys.readouterr().err
    assert main(["search", "configs/quickstart.yaml"]) == 1
    err = capsys.readouterr().err
    assert NOTE in err and "no search: section" in err
    with pytest.raises(AdaptxError, match="--grid"):
        run_rank("configs/quickstart.yaml", grid=[tmp_path])
    assert NOTE in capsys.readouterr().err


def test_every_command_help_ends_with_examples_of_that_command(capsys):
    for name in build_parser()._subparsers._group_actions[0].choices:  # argparse keeps them here
        with pytest.raises(SystemExit):
            main([name, "--help"])
        section = capsys.readouterr().out.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0]
        assert all(f"adaptx {name} " in line for line in section.splitlines()), name
