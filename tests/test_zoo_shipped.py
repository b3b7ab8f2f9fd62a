"""The adapters shipped in adapter_zoo/ load as zoo:NAME on the embedded base and reproduce their
cards' English dev scores on the real data slices (../shared/data)."""

import json
from pathlib import Path

import pytest

from adaptx import zoo, zoo_rescore

ROOT = Path(__file__).resolve().parents[1] / "adapter_zoo"
SHIPPED = ["mnli-e5small-s0", "qqp-e5small-s0", "sst2-e5small-s0"]


def test_the_shipped_entries_are_small_verified_intermediate_adapters_of_the_embedded_base():
    assert zoo.verify_zoo(ROOT) == (len(SHIPPED), [])
    for name in SHIPPED:
        card = zoo.show_entry(ROOT, name)
        assert (card["kind"], card["base"]["id"], card["base"]["family"]) == (
            "intermediate", "embedded", "multilingual-e5-small")
        assert not any(v.startswith("/") for k, v in card["training"]["data"].items() if k in ("train", "dev"))
        assert sum(p.stat().st_size for p in (ROOT / name).rglob("*") if p.is_file()) < 2_000_000
    assert sorted(json.loads((ROOT / "index.json").read_text())["entries"]) == SHIPPED


@pytest.mark.integration
@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_adapter_reproduces_its_cards_english_dev_score(name, shared_data, embedded_dir):
    """Loaded through zoo:NAME (sha256 and base fingerprint checked), scored on the dev rows the card
    records (file sha256, 150 rows, sample seed: rescore_entry refuses other rows) in the card's dtype
    (bf16) on the CPU, as it was trained: the same weights, rows, batches and kernels give the same
    logits, so the score must be the card's exactly, not approximately."""
    card = zoo.show_entry(ROOT, name)
    got = zoo_rescore.rescore_entry(ROOT, name, shared_data, device="cpu")
    assert (got["rows"], got["dtype"]) == (card["metrics"]["en_dev"]["rows"], card["training"]["dtype"]) == (150,
                                                                                                              "bf16")
    assert (got["metric"], got["value"]) == ("accuracy", card["metrics"]["en_dev"]["value"])
