"""Issue 34's smaller rough edges, one test each: README's stage names, `zoo show` of a task name
alone, and `config list` descriptions that end at a phrase boundary. (The smoke mark of `adaptx
report` is in test_first_hour.py, the plurals and the "too few" line of analysis.md in test_analyze.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adaptx import shipped
from adaptx.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_readme_and_docs_name_no_phase_without_saying_what_it_is():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        phases = set(re.findall(r"[Pp]hase (\d)", text))
        assert not phases or "1" in phases, f"{path.name} names phase {sorted(phases)} but never phase 1"
    assert "**Intermediate stages**" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_zoo_show_of_a_task_name_suggests_the_entry_and_lists_the_zoos_it_searched(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a folder without ./adapter_zoo: the name falls through to the shipped zoo
    monkeypatch.delenv("ADAPTX_ZOO", raising=False)
    assert main(["zoo", "show", "qqp"]) == 1
    err = capsys.readouterr().err
    assert "no zoo entry 'qqp' in adapter_zoo (entries: none); nor in the zoo shipped with adaptx (" in err
    assert "qqp-e5small-s0, snli-e5small-s0" in err  # the shipped zoo's entries, not "none"
    assert "; did you mean qqp-e5small-s0; see `adaptx zoo list --zoo adapter_zoo`" in err
    assert main(["zoo", "show", "qqp-e5smal-s0"]) == 1  # a typo: the closest name
    assert "did you mean qqp-e5small-s0;" in capsys.readouterr().err
    assert main(["zoo", "show", "zzzz"]) == 1
    assert "did you mean" not in capsys.readouterr().err


@pytest.mark.parametrize("header, expected", [
    ("# XNLI (trains on English MNLI), 15 languages\nname: x\n", "XNLI (trains on English MNLI), 15 languages"),
    ("# One sentence. Then more.\n", "One sentence"),
    ("# A long opening (with a clause, in parentheses), that goes on: and on\n# and on past the width.\n",
     "A long opening (with a clause, in parentheses) …"),
    ("# Unbroken words in (a parenthesis that runs on and on) and on\n", "Unbroken words in …"),
    ("#\n# spaced out\n", ""),
])
def test_config_list_descriptions_end_at_a_phrase_boundary(tmp_path, header, expected):
    path = tmp_path / "c.yaml"
    path.write_text(header)
    assert shipped.summary(path, width=50) == expected


def test_shipped_config_descriptions_never_stop_inside_parentheses():
    for name, path in shipped.shipped_configs().items():
        text = shipped.summary(path)
        assert text and len(text) <= shipped.SUMMARY_WIDTH + 2, name
        assert text.count("(") == text.count(")"), f"{name}: {text}"
