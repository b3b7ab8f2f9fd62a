"""The entries adapter_zoo/ ships (configs/zoo.yaml trains them, scripts/publish_zoo.py publishes
them): one list for every test that checks the shipped zoo."""

SHIPPED = sorted(f"{task}-e5small-s0" for task in ("commonsenseqa", "cosmosqa", "mnli", "paws", "qqp", "snli", "sst2"))
