"""A new composition is one registered class (adaptx.compositions.base): this file writes one, `first`
(the first intermediate adapter alone, under a new target adapter), registers it from here without
touching any adaptx module, and runs it end to end on a tiny random model: the config accepts it,
the planner plans it, the strategies table lists it, the model is built, trained, saved, reloaded
and evaluated through its hooks, and the results table has its row."""

import json

import pytest
import yaml

from adaptx import pipeline
from adaptx.compositions import REGISTRY, Composition, composition_for, register
from adaptx.config import load_config
from adaptx.errors import AdaptxError
from adaptx.strategies import COMPOSITIONS, DEFAULT_STRATEGIES, REPORT_ORDER, STRATEGIES, TARGET_STRATEGIES, get_strategy
from adaptx.strategy_row import Strategy
from tiny_data import write_tiny_data


class FirstOnly(Composition):
    """The trivial composition: of the adapters it combines, only the first runs."""

    row = Strategy("first", "adapter", 2, "adapter", ("none",), report_order=11, zoo_kind="target")

    def setup_fields(self, stage, cfg, names):
        return {"own_adapter": stage.task, "frozen_adapters": names[:1]}

    def block(self, setup):
        return setup.frozen_adapters[0]


@pytest.fixture
def first_only():
    register(FirstOnly)
    try:
        yield REGISTRY["first"]
    finally:
        del REGISTRY["first"]


def test_a_registered_composition_joins_the_strategies_table(first_only):
    assert composition_for("first") is first_only and get_strategy("first") is FirstOnly.row
    assert STRATEGIES["first"].composition and "first" in TARGET_STRATEGIES and "first" in COMPOSITIONS
    assert REPORT_ORDER[-1] == "first" and "first" not in DEFAULT_STRATEGIES
    with pytest.raises(AdaptxError, match=r"allowed: none, stack, fuse, full, full-none, average, merge, "
                                          r"task_arithmetic, ties, dare, scaled, first$"):
        load_config(None, ["strategies=[nothing]"])
    with pytest.raises(ValueError, match="already registered"):
        register(FirstOnly)


def test_the_table_without_it_and_with_a_clash():
    assert "first" not in TARGET_STRATEGIES and "first" not in STRATEGIES
    assert [c.name for c in REGISTRY.values()] == ["fuse", "average", "merge", "task_arithmetic", "ties", "dare",
                                                   "scaled"]

    class Stack(FirstOnly):
        row = Strategy("stack", "adapter", 2, "adapter")

    register(Stack)
    try:
        with pytest.raises(ValueError, match="'stack' is named like a strategy of adaptx.strategies"):
            get_strategy("none")
    finally:
        del REGISTRY["stack"]
    with pytest.raises(TypeError, match="not a Composition"):
        register(object())


def test_a_composition_registered_from_a_test_runs_end_to_end(first_only, tmp_path, tiny_model_dir, adaptx_home):
    raw = {"base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli",
           "languages": ["en", "de"], "strategies": ["stack", "first"], "max_seq_length": 16,
           "train": {"intermediate_steps": 2, "target_steps": 2, "batch_size": 4, "checkpoint_every": 1},
           "data": {"max_eval_examples": 6, "max_dev_examples": 6}}
    config, out = tmp_path / "exp.yaml", tmp_path / "run"
    config.write_text(yaml.safe_dump(raw))
    pipeline.run_experiment(config, data_dir=write_tiny_data(tmp_path / "data"), out_dir=out)
    stages = {p.name.rsplit("-", 1)[0]: p for p in (out / "stages").iterdir() if not p.name.startswith(".")}
    first = stages["target-xnli-first-qqp+sst2-s0"]  # planned like every composition: all adapters, one stage
    setup = json.loads((first / "model" / "setup.json").read_text())
    assert setup["strategy"] == "first" and [a.split("-")[0] for a in setup["frozen_adapters"]] == ["qqp"]
    assert json.loads((first / "metrics.json").read_text())["combine"]["target_adapter"] is True
    records = json.loads((out / "results.json").read_text())
    scores = {(r["strategy"], r["intermediate"], r["language"], r["metric"]): r["value"] for r in records}
    # the first adapter alone under a new target adapter is `stack` on it: the same model, trained alike
    firsts = {key[2:]: value for key, value in scores.items() if key[0] == "first"}
    assert len(firsts) == 2 and firsts == {key[2:]: value for key, value in scores.items() if key[:2] == ("stack", "qqp")}
    assert "| first (qqp+sst2)" in (out / "results.md").read_text()  # marks may follow the name (†‡)
    # saved and reloaded through its hooks: the stage predicts from its folder as it did in the run
    from adaptx.predict import load

    rows = [{"text_a": "the cat sat", "text_b": "a dog"}, {"text_a": "the sea", "text_b": "the mat"}]
    assert load(first).predict(rows) == load(stages["target-xnli-stack-qqp-s0"]).predict(rows)
