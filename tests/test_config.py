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
    assert cfg.target_task == "xnli" and cfg.intermediate_tasks == ["qqp"] and cfg.fusion.include_target_adapter
    assert set(cfg.strategies) == {"none", "stack", "fuse", "full", "full-none"}


def test_defaults_and_explicit_learning_rates(tmp_path):
    from adaptx.models import BASE_FAMILIES, PAPER_RATES

    cfg = load_config(write(tmp_path, "intermediate_tasks: [mnli]\nstrategies: [none, stack]\n"))
    assert cfg.base_model == "embedded" and cfg.adapter.config == "seq_bn"
    e5 = BASE_FAMILIES[("bert", 384, 12, 250037)][1]
    assert (cfg.lr("adapter", e5), cfg.lr("fusion", e5), cfg.lr("full", e5)) == (1e-3, 1e-3, 5e-5)
    assert (cfg.lr("adapter", PAPER_RATES), cfg.lr("full", PAPER_RATES)) == (1e-4, 1e-5)
    explicit = load_config(write(tmp_path, "strategies: [none]\ntrain: {lr_adapter: 3e-4}\n"))
    assert explicit.lr("adapter", e5) == 3e-4 and explicit.lr("full", e5) == 5e-5


def test_eval_every_defaults_to_five_evaluations_per_run():
    cfg = load_config(None, ["strategies=[none]"])
    assert cfg.train.eval_every is None
    assert [cfg.train.eval_interval(n) for n in (150, 50, 3)] == [30, 10, 1]
    assert load_config(None, ["strategies=[none]", "train.eval_every=7"]).train.eval_interval(150) == 7


def test_fusion_settings_resolve_from_the_preset():
    cfg = load_config(None, ["intermediate_tasks=[qqp, sst2]", "strategies=[fuse]"])
    dynamic = cfg.fusion.library_settings()
    assert dynamic["value"] and dynamic["regularization"] and dynamic["value_initialized"]
    static = load_config(None, ["intermediate_tasks=[qqp, sst2]", "strategies=[fuse]", "fusion.preset=static"])
    assert not static.fusion.library_settings()["value"]
    custom = load_config(None, ["intermediate_tasks=[qqp, sst2]", "strategies=[fuse]", "fusion.regularization=false",
                                "fusion.temperature=true", "fusion.dropout_prob=0.2"]).fusion.library_settings()
    assert (custom["regularization"], custom["temperature"], custom["dropout_prob"], custom["value"]) == (
        False, True, 0.2, True)


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
    ("strategies: [none]\ntarget_task: squad\n", r"target_task: unknown target task 'squad'; allowed: bucc, mlqa, panx, pawsx, tatoeba, tydiqa, udpos, xnli, xquad"),
    ("intermediate_tasks: [mnli, winogrande]\nstrategies: [stack]\n", r"intermediate_tasks\[1\]: unknown intermediate task 'winogrande'"),
    ("strategies: [none]\nlanguages: [en, xx]\n", r"languages\[1\]: xnli has no language 'xx'; allowed: en, ar"),
    ("intermediate_tasks: [mnli]\nstrategies: [fuse]\n", r"'fuse' needs at least two adapters to fuse"),
    # every numeric setting is range-checked before anything runs
    ("strategies: [none]\ntrain: {max_grad_norm: -1}\n", r"train.max_grad_norm: must be a finite number > 0, got -1"),
    ("strategies: [none]\ntrain: {max_grad_norm: 0}\n", r"train.max_grad_norm: must be a finite number > 0"),
    ("strategies: [none]\ntrain: {checkpoint_every: 0}\n", r"train.checkpoint_every: must be >= 1, got 0"),
    ("strategies: [none]\ntrain: {eval_every: 0}\n", r"train.eval_every: must be >= 1 or null"),
    ("strategies: [none]\nhead: {dropout: 1.0}\n", r"head.dropout: must be in \[0, 1\), got 1.0"),
    ("strategies: [none]\nhead: {dropout: -0.1}\n", r"head.dropout: must be in \[0, 1\)"),
    ("strategies: [none]\ntrain: {weight_decay: -0.01}\n", r"train.weight_decay: must be a finite number >= 0"),
    ("strategies: [none]\ntrain: {warmup_ratio: 1}\n", r"train.warmup_ratio: must be in \[0, 1\)"),
    ("strategies: [none]\ntrain: {lr_head: .nan}\n", r"train.lr_head: must be in \(0, 1\), got nan"),
    ("strategies: [none]\ndata: {max_train_examples: 0}\n", r"data.max_train_examples: must be >= 1 or null, got 0"),
    ("strategies: [none]\ndata: {max_eval_examples: -5}\n", r"data.max_eval_examples: must be >= 1 or null"),
    ("strategies: [none]\ndata: {max_dev_examples: 0}\n", r"data.max_dev_examples: must be >= 1 or null"),
    ("strategies: [none]\ndata: {sample_seed: -1}\n", r"data.sample_seed: must be >= 0"),
    ("strategies: [none]\nmax_seq_length: 0\n", r"max_seq_length: must be >= 1"),
    ("strategies: [none]\nadapter: {reduction_factor: 0}\n", r"adapter.reduction_factor: must be >= 1"),
    ("strategies: [none]\nlanguages: []\n", r"languages: empty list; use null for every language of xnli"),
    ("strategies: [none]\nlanguages: [de, de]\n", r"languages\[1\]: 'de' is listed twice"),
    ("strategies: [none]\nseeds: [1, 1]\n", r"seeds\[1\]: 1 is listed twice"),
    ("strategies: [none]\nseeds: [-2]\n", r"seeds\[0\]: must be >= 0"),
    ("strategies: [none, none]\n", r"strategies\[1\]: 'none' is listed twice"),
    ("intermediate_tasks: [qqp, sst2]\nstrategies: [fuse]\nfusion: {preset: wild}\n", r"fusion.preset: 'wild'"),
    ("intermediate_tasks: [qqp, sst2]\nstrategies: [fuse]\nfusion: {dropout_prob: 1.5}\n",
     r"fusion.dropout_prob: must be in \[0, 1\)"),
    ("intermediate_tasks: [qqp, sst2]\nstrategies: [fuse]\nfusion: {value: maybe}\n", r"fusion.value: expected bool"),
    ("strategies: [stack]\n", r"need at least one intermediate task"),
    ("strategies: [none]\ntarget_task: [xnli, xnli]\n", r"target_task\[1\]: 'xnli' is listed twice"),
    ("strategies: [none]\ntarget_task: [xnli, squad]\n", r"target_task\[1\]: unknown target task 'squad'"),
    ("strategies: [none]\ntrain: {target_epochs: {udpos: 2}}\n", r"train.target_epochs.udpos: 'udpos' is not a target"),
    ("strategies: [none]\ntrain: {target_epochs: 0}\n", r"train.target_epochs: must be a number > 0"),
    ("strategies: [none]\ntrain: {intermediate_epochs: {sqad2: 2}}\n",
     r"train.intermediate_epochs.sqad2: 'sqad2' is not an intermediate task \(anli, .*squad2, sst2, multitask\)"),
    ("strategies: [none]\ntrain: {intermediate_epochs: {squad2: -1}}\n", r"train.intermediate_epochs.squad2: must be a number > 0"),
    ("strategies: [none]\ntrain: {target_batch_size: {xnli: 0}}\n", r"train.target_batch_size.xnli: must be a number > 0"),
    ("strategies: [none]\ntrain: {target_epochs: many}\n", r"train.target_epochs: expected float or dict"),
    ("strategies: [none]\nadapter: {config: lora}\n", r"adapter.config: 'lora'; allowed: seq_bn, double_seq_bn"),
    ("strategies: [none]\nhead: {pooling: max}\n", r"head.pooling: 'max'; allowed: first, mean"),
    ("strategies: [none]\ntrain: {lr_adapter: 5}\n", r"train.lr_adapter: must be in \(0, 1\)"),
    ("- just\n- a list\n", r"expected a mapping"),
    ("strategies: [none\n", r"not valid YAML"),
])
def test_errors_name_file_key_and_allowed_values(tmp_path, text, match):
    with pytest.raises(AdaptxError, match=match):
        load_config(write(tmp_path, text))


def test_one_intermediate_fuses_with_the_target_adapter():
    cfg = load_config(None, ["intermediate_tasks=[qqp]", "strategies=[fuse]", "fusion.include_target_adapter=true"])
    assert cfg.fusion.include_target_adapter


def test_config_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(AdaptxError, match=r"latin1.yaml: not UTF-8 text .*save the config as UTF-8"):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(AdaptxError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def test_bad_override():
    with pytest.raises(AdaptxError, match="expected key=value"):
        load_config(QUICKSTART, ["train.target_steps"])


def test_every_shipped_config_is_valid():
    """torchtune-style: each config in configs/ loads and validates, nothing is built."""
    configs = sorted((QUICKSTART.parent).rglob("*.yaml"))
    assert len(configs) >= 12
    for path in configs:
        cfg = load_config(path)
        assert cfg.targets and cfg.strategies, path
