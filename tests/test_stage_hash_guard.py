"""The refactoring guard: every stage hash and evaluation-file name of the shipped configs and of
one tiny config per strategy, composition and intermediate option, as planned (nothing trained),
equals what tests/golden/stage_hashes.json recorded before the house redesign. A changed hash would
retrain every existing run folder's stage and orphan the zoo cards' source hashes."""

import json

import pytest

import stage_hash_guard as guard

GOLDEN = json.loads(guard.GOLDEN.read_text())


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("guard")
    guard.write_tiny_fixtures(root, tiny_model_dir)
    return root


@pytest.mark.parametrize("name", sorted(guard.TINY))
def test_tiny_plans_keep_their_stage_hashes(name, fixtures, adaptx_home):
    assert guard.tiny_hashes(name, fixtures) == GOLDEN["tiny"][name]


@pytest.mark.parametrize("name", sorted(guard.SHIPPED))
def test_shipped_configs_keep_their_stage_hashes(name, tmp_path):
    if guard.SHIPPED[name][1] == "shared" and not guard.SHARED_DATA.is_dir():
        pytest.skip(f"real data slices not found at {guard.SHARED_DATA} (the project's ../shared/data)")
    assert guard.shipped_hashes(name, tmp_path / "run") == GOLDEN["shipped"][name]


def test_the_golden_file_covers_every_strategy_and_kind_of_stage():
    """The guard guards something: every strategy, both intermediate stage kinds and evaluations."""
    ids = [stage for plan in GOLDEN["tiny"].values() for stage in plan]
    for part in ("-none-", "-stack-", "-fuse-", "-full-", "-full-none-", "-average-", "-merge-",
                 "intermediate-adapter-", "intermediate-full-", "multitask", "tatoeba", "bucc"):
        assert any(part in stage for stage in ids), part
    assert all(len(entry["hash"]) == 16 for plan in GOLDEN["tiny"].values() for entry in plan.values())
    assert sum("eval" in entry for plan in GOLDEN["tiny"].values() for entry in plan.values()) > 30
