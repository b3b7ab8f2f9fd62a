"""The entries adapter_zoo/ ships (configs/zoo.yaml trains them, scripts/publish_zoo.py publishes
them): one list for every test that checks the shipped zoo, and their cards for the values tests
compare against (so a retrained entry changes one folder, not every test)."""
import json
from pathlib import Path

SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "adapter_zoo"
SHIPPED = sorted(f"{task}-e5small-s0" for task in ("commonsenseqa", "cosmosqa", "hellaswag", "mnli", "multitask", "paws", "qqp", "snli", "sst2"))


def shipped_card(name: str) -> dict:
    return json.loads((SHIPPED_ROOT / name / "card.json").read_text())
