"""The shipped zoo beside the user's: `zoo list` shows both with their origin, a name resolves from the
user zoo first and then from the shipped one (zoo:NAME in configs, show, export), and the shipped zoo
is never written to."""

import json
import shutil
from pathlib import Path

import pytest

from adaptx import shipped, zoo, zoo_resolve
from adaptx.cli import main
from adaptx.errors import AdaptxError
from shipped_zoo import SHIPPED

SHIPPED_ZOO = Path(__file__).resolve().parents[1] / "adapter_zoo"


@pytest.fixture
def user_zoo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # away from the checkout: ./adapter_zoo is not the shipped zoo here
    path = tmp_path / "mine"
    monkeypatch.setenv("ADAPTX_ZOO", str(path))
    return path


def rows(out: str) -> dict[str, str]:
    """entry name -> its zoo column, from a `zoo list` table."""
    found = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 9 and cells[0] not in ("name",):
            found.setdefault(cells[0], []).append(cells[8])
    return found


def test_a_checkout_reads_its_own_adapter_zoo_as_the_shipped_zoo():
    assert shipped.zoo_dir() == SHIPPED_ZOO and zoo_resolve.shipped_zoo() == SHIPPED_ZOO


def test_zoo_list_shows_the_shipped_entries_beside_the_user_zoo_with_their_origin(user_zoo, capsys):
    assert main(["zoo", "list"]) == 0  # the user zoo does not exist yet: the shipped entries still list
    out = capsys.readouterr().out
    assert rows(out) == {name: ["shipped"] for name in SHIPPED}
    assert f"user zoo: {user_zoo} ($ADAPTX_ZOO)" in out and f"shipped zoo: {SHIPPED_ZOO}" in out

    # a user entry of a shipped name: listed first, and the shipped one says it is shadowed
    shutil.copytree(SHIPPED_ZOO / "qqp-e5small-s0", user_zoo / "qqp-e5small-s0")
    record = json.loads((SHIPPED_ZOO / "index.json").read_text())["entries"]["qqp-e5small-s0"]
    zoo.write_index(user_zoo, {"qqp-e5small-s0": record})
    assert main(["zoo", "list", "--task", "qqp"]) == 0
    assert rows(capsys.readouterr().out) == {"qqp-e5small-s0": ["user", "shipped (shadowed by user)"]}
    entry, _ = zoo.require_entry(user_zoo, "qqp-e5small-s0")
    assert entry == user_zoo / "qqp-e5small-s0"


def test_the_same_folder_as_user_and_shipped_zoo_is_listed_once(capsys):
    assert [z.origin for z in zoo_resolve.zoos(SHIPPED_ZOO)] == ["shipped"]
    assert main(["zoo", "list", "--zoo", str(SHIPPED_ZOO)]) == 0
    assert rows(capsys.readouterr().out) == {name: ["shipped"] for name in SHIPPED}


def test_names_resolve_from_the_shipped_zoo_when_the_user_zoo_lacks_them(user_zoo, tmp_path, capsys):
    entry, card = zoo.require_entry(user_zoo, "mnli-e5small-s0")  # verified: every sha256 checked
    assert entry == SHIPPED_ZOO / "mnli-e5small-s0" and card.task == "mnli"
    # zoo:NAME of a config: found in the shipped zoo, then refused only for being on another base
    with pytest.raises(AdaptxError, match="zoo:mnli-e5small-s0 was trained on base 'embedded'"):
        zoo.resolve_zoo_adapter("zoo:mnli-e5small-s0", user_zoo, {"hidden_size": 8})
    assert main(["zoo", "show", "sst2-e5small-s0"]) == 0 and "verified" in capsys.readouterr().out
    assert main(["zoo", "verify", "sst2-e5small-s0"]) == 0
    assert "1 entries checked, 0 problems" in capsys.readouterr().out
    with pytest.raises(AdaptxError, match=r"no zoo entry 'nope' in .*mine \(entries: none\); nor in the zoo shipped"):
        zoo.require_entry(user_zoo, "nope")


def test_shipped_entries_are_never_removed(user_zoo, capsys):
    before = sorted(p.relative_to(SHIPPED_ZOO) for p in SHIPPED_ZOO.rglob("*"))
    assert main(["zoo", "remove", "mnli-e5small-s0"]) == 1
    assert "is shipped with adaptx" in capsys.readouterr().err
    assert sorted(p.relative_to(SHIPPED_ZOO) for p in SHIPPED_ZOO.rglob("*")) == before
