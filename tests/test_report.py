import json

import pytest

from adaptx.cli import main
from adaptx.report import render_table


def rec(strategy, inter, lang, value, seed=0):
    return {"task": "xnli", "strategy": strategy, "intermediate": inter, "language": lang, "split": "test",
            "metric": "accuracy", "value": value, "seed": seed}


def test_table_averages_seeds_and_marks_the_best_per_column():
    records = [rec("none", None, "en", 40.0), rec("none", None, "de", 30.0),
               rec("stack", "mnli", "en", 50.0), rec("stack", "mnli", "de", 20.0),
               rec("stack", "mnli", "en", 60.0, seed=1), rec("stack", "mnli", "de", 40.0, seed=1)]
    lines = render_table(records).splitlines()
    assert lines[2] == "| strategy | en | de | avg | avg w/o en |"
    none = next(line for line in lines if line.startswith("| none |"))
    stack = next(line for line in lines if line.startswith("| stack (mnli) |"))
    assert none == "| none | 40.0 | **30.0** | 35.0 | **30.0** |"
    assert stack == "| stack (mnli) | **55.0** | **30.0** | **42.5** | **30.0** |"  # ties are both bold
    assert "seeds [0, 1]" in lines[0]


def test_report_command_errors_clearly(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    assert "results.json not found" in capsys.readouterr().err
    (tmp_path / "results.json").write_text("{broken")
    assert main(["report", str(tmp_path)]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_empty_results():
    assert render_table([]) == "(no results yet)"
