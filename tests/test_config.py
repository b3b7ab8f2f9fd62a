from pathlib import Path

import pytest

from adaptx.config import load_config
from adaptx.errors import AdaptxError

QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_quickstart_config_is_valid():
    cfg = load_config(QUICKSTART)
    assert cfg.target_task == "xnli" and len(cfg.intermediate_tasks) == 2
    assert set(cfg.strategies) == {"none", "stack", "fuse", "full", "full-none"}


def test_defaults_and_per_base_learning_rates(tmp_path):
    cfg = load_config(write(tmp_path, "intermediate_tasks: [mnli]\nstrategies: [none, stack]\n"))
    assert cfg.base_model == "embedded" and cfg.adapter.config == "seq_bn"
    assert (cfg.lr("adapter"), cfg.lr("fusion"), cfg.lr("full")) == (1e-3, 1e-3, 5e-5)
    big = load_config(write(tmp_path, "base_model: xlm-roberta-large\nstrategies: [none]\n"))
    assert (big.lr("adapter"), big.lr("fusion"), big.lr("full")) == (1e-4, 5e-5, 1e-5)
    explicit = load_config(write(tmp_path, "strategies: [none]\ntrain: {lr_adapter: 3e-4}\n"))
    assert explicit.lr("adapter") == 3e-4


def test_dotted_overrides(tmp_path):
    cfg = load_config(QUICKSTART, ["train.target_steps=7", "strategies=[none]", "head.pooling=first",
                                   "languages=[de, sw]"])
    assert cfg.train.target_steps == 7 and cfg.strategies == ["none"]
    assert cfg.head.pooling == "first" and cfg.languages == ["de", "sw"]


@pytest.mark.parametrize("text, match", [
    ("strategies: [none]\nbatch_size: 3\n", r"exp.yaml: batch_size: unknown key; allowed keys here: name, base_model"),
    ("strategies: [none]\ntrain: {steps: 3}\n", r"exp.yaml: train.steps: unknown key; allowed keys here: intermediate_steps"),
    ("strategies: [none]\ntrain: {target_steps: many}\n", r"exp.yaml: train.target_steps: expected int, got str"),
    ("strategies: [none]\nseeds: 3\n", r"seeds: expected a list"),
    ("strategies: [nothing]\n", r"strategies\[0\]: unknown strategy 'nothing'; allowed: none, stack, fuse, full, full-none"),
    ("strategies: [none]\ntarget_task: squad\n", r"target_task: unknown target task 'squad'; allowed: pawsx, xnli"),
    ("intermediate_tasks: [mnli, ccg]\nstrategies: [stack]\n", r"intermediate_tasks\[1\]: unknown intermediate task 'ccg'"),
    ("strategies: [none]\nlanguages: [en, xx]\n", r"languages\[1\]: xnli has no language 'xx'; allowed: en, ar"),
    ("intermediate_tasks: [mnli]\nstrategies: [fuse]\n", r"'fuse' needs at least two intermediate tasks"),
    ("strategies: [stack]\n", r"need at least one intermediate task"),
    ("strategies: [none]\nadapter: {config: lora}\n", r"adapter.config: 'lora'; allowed: seq_bn, double_seq_bn"),
    ("strategies: [none]\nhead: {pooling: max}\n", r"head.pooling: 'max'; allowed: first, mean"),
    ("strategies: [none]\ntrain: {lr_adapter: 5}\n", r"train.lr_adapter: must be in \(0, 1\)"),
    ("- just\n- a list\n", r"expected a mapping"),
    ("strategies: [none\n", r"not valid YAML"),
])
def test_errors_name_file_key_and_allowed_values(tmp_path, text, match):
    with pytest.raises(AdaptxError, match=match):
        load_config(write(tmp_path, text))


def test_missing_config_file(tmp_path):
    with pytest.raises(AdaptxError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def test_bad_override():
    with pytest.raises(AdaptxError, match="expected key=value"):
        load_config(QUICKSTART, ["train.target_steps"])
