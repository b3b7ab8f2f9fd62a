"""Saved adapter names and their inverse: the analysis reads back what the stage recipes wrote."""

from adaptx.adapter_names import role, saved_name


def test_role_inverts_saved_name_for_every_seed_and_keeps_zoo_names():
    assert {saved_name("xnli", seed, "da0cadf3") for seed in (0, 1, 12)} == {
        "xnli-s0-da0cadf3", "xnli-s1-da0cadf3", "xnli-s12-da0cadf3"}
    assert {role(saved_name("xnli", seed, "da0cadf3")) for seed in (0, 1, 12)} == {"xnli"}
    assert saved_name("zoo-mnli-e5small-s0", 2, "da0cadf3") == "zoo-mnli-e5small-s0"
    assert role("zoo-mnli-e5small-s0") == "zoo-mnli-e5small-s0"  # no base tag: nothing stripped
