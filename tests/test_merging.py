"""Issue 21: TIES / DARE / task-arithmetic merges of bottleneck adapters and the `scaled`
(ScaLearn-style) composition — the arithmetic on hand-made weights, one adapter's cost path after a
merge, the scales' parameter count beside fusion's, exact reloads, the config and search rules,
and one tiny run that publishes a merge to the zoo and predicts from it."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from adaptx import pipeline
from adaptx.compositions.fusion import FusionSettings
from adaptx.compositions.merges import DENSITY_DEFAULTS, merged_adapter_name
from adaptx.compositions.ties_dare import dare, elect_sign, ties, trim
from adaptx.config import load_config
from adaptx.errors import AdaptxError
from adaptx.modeling import Setup, build_model, load_model, save_model
from adaptx.models import config_fingerprint, load_encoder
from adaptx.search_space import COMBINE_KEYS, parse_search
from tiny_data import write_tiny_data

M = "m"  # the parameter name of the hand-made state dicts below


# -- the arithmetic on hand-made state dicts ---------------------------------------------------------

def test_ties_trims_elects_signs_and_takes_the_disjoint_mean_as_computed_by_hand():
    a = {M: torch.tensor([[3.0, -1.0], [0.5, 2.0]]), "b": torch.tensor([1.0, -2.0])}
    b = {M: torch.tensor([[-1.5, -4.0], [0.25, 1.0]]), "b": torch.tensor([3.0, 1.0])}
    merged = ties([a, b], [1.0, 1.0], density=0.5)
    # trimmed to 2 of 4 entries: a -> [[3, 0], [0, 2]], b -> [[-1.5, -4], [0, 0]]; summed signs [[+, -], [+, +]];
    # each entry the mean of the values of its sign: 3 (b's -1.5 disagrees), -4, nothing (0), 2
    assert torch.equal(merged[M], torch.tensor([[3.0, -4.0], [0.0, 2.0]]))
    # a vector is not trimmed: signs of [4, -1] are [+, -]: mean(1, 3) = 2, and -2 alone
    assert torch.equal(merged["b"], torch.tensor([2.0, -2.0]))
    # weights act before the election, lambda after it: weighted [2, -4] and [3, 1]; 0.5 * [mean(2, 3), -4]
    weighted = ties([{"b": a["b"]}, {"b": b["b"]}], [2.0, 1.0], density=0.5, scale=0.5)
    assert torch.equal(weighted["b"], torch.tensor([1.25, -2.0]))


def test_ties_sign_election_by_mass_or_by_count():
    states = [{"v": torch.tensor([5.0])}, {"v": torch.tensor([-1.0])}, {"v": torch.tensor([-1.0])}]
    assert ties(states, [1, 1, 1], 1.0, "total")["v"].item() == 5.0  # 5 - 1 - 1 > 0: only 5 agrees
    assert ties(states, [1, 1, 1], 1.0, "frequency")["v"].item() == -1.0  # two of three are negative
    assert elect_sign(torch.tensor([[1.0], [-1.0]]), "total").item() == 1.0  # a tie elects +, as peft does
    with pytest.raises(AdaptxError, match="allowed: total, frequency"):
        elect_sign(torch.zeros(2, 1), "majority")


def test_trim_keeps_the_ceil_of_density_times_entries_by_magnitude():
    t = torch.tensor([[0.1, -0.9, 0.3], [0.5, -0.2, 0.05]])
    assert torch.equal(trim(t, 0.3), torch.tensor([[0.0, -0.9, 0.0], [0.5, 0.0, 0.0]]))  # ceil(1.8) = 2 kept
    assert torch.equal(trim(t, 1.0), t)


def test_dare_is_seeded_and_rescales_the_kept_entries_by_one_over_density():
    a, b = {M: torch.ones(100, 100), "b": torch.ones(3)}, {M: torch.full((100, 100), 2.0), "b": torch.ones(3)}
    merged = dare([a, b], [1.0, 1.0], density=0.25, seed=5)
    again, other = dare([a, b], [1.0, 1.0], 0.25, seed=5), dare([a, b], [1.0, 1.0], 0.25, seed=6)
    assert torch.equal(merged[M], again[M]) and not torch.equal(merged[M], other[M])
    # each entry: 4 * (kept in a) + 8 * (kept in b), so every value is one of 0, 4, 8, 12
    assert set(merged[M].unique().tolist()) <= {0.0, 4.0, 8.0, 12.0}
    kept_a = torch.isin(merged[M], torch.tensor([4.0, 12.0])).float().mean().item()
    assert abs(kept_a - 0.25) < 0.03  # 10,000 draws: the standard deviation is 0.004
    assert abs(merged[M].mean().item() - 3.0) < 0.15  # the expected value of each entry is kept (1 + 2)
    assert torch.equal(merged["b"], torch.full((3,), 2.0))  # vectors are never dropped: the plain sum
    # density 1 drops nothing: the weighted sum times lambda, by hand
    assert torch.equal(dare([a, b], [0.5, -1.0], 1.0, seed=0, scale=2.0)[M], torch.full((100, 100), -3.0))


def test_merges_refuse_adapters_that_do_not_line_up():
    with pytest.raises(AdaptxError, match="other parameters"):
        ties([{M: torch.ones(2, 2)}, {"x": torch.ones(2, 2)}], [1, 1], 0.5)
    with pytest.raises(AdaptxError, match="shape"):
        dare([{M: torch.ones(2, 2)}, {M: torch.ones(2, 3)}], [1, 1], 0.5, seed=0)
    with pytest.raises(AdaptxError, match="density must be in"):
        ties([{M: torch.ones(2, 2)}] * 2, [1, 1], 0.0)


# -- on a tiny model -----------------------------------------------------------------------------------

@pytest.fixture
def inter_dirs(tiny_model_dir_no_dropout, tmp_path):
    dirs = {}
    for i, name in enumerate(["qqp", "sst2"]):
        torch.manual_seed(i)
        enc = load_encoder(str(tiny_model_dir_no_dropout))
        fingerprint = config_fingerprint(enc.config)
        model = build_model(enc, Setup("intermediate", 2, own_adapter=name, base_fingerprint=fingerprint))
        with torch.no_grad():
            for p in model.trainable_parameters().values():
                p.add_(torch.randn_like(p) * 0.1)
        save_model(model, tmp_path / name)
        dirs[name] = tmp_path / name / f"adapter-{name}"
    return dirs


def build(base, strategy, dirs, seed=7, **extra):
    torch.manual_seed(seed)
    enc = load_encoder(str(base))
    setup = Setup(strategy, 3, own_adapter="xnli", frozen_adapters=["qqp", "sst2"],
                  base_fingerprint=config_fingerprint(enc.config), **extra)
    return build_model(enc, setup, dirs).eval()


def adapter_params(model, name) -> dict:
    marker = f".adapters.{name}."
    return {n.replace(marker, ".adapters.<>."): p.detach() for n, p in model.encoder.named_parameters() if marker in n}


MERGES = {
    "task_arithmetic": dict(combine_weights=[0.7, -0.2], merge_settings={"scale": 1.5}),
    "ties": dict(combine_weights=[1.0, 1.0], merge_settings={"scale": 1.0, "density": 0.2, "sign_method": "total"}),
    "dare": dict(combine_weights=[0.5, 0.5], merge_settings={"scale": 1.0, "density": 0.5, "seed": 3}),
}


@pytest.mark.parametrize("strategy", list(MERGES))
def test_a_merge_is_one_adapter_with_the_hand_computed_weights_and_one_adapters_cost(
        strategy, tiny_model_dir_no_dropout, inter_dirs, tmp_path):
    base = tiny_model_dir_no_dropout
    model = build(base, strategy, inter_dirs, merge=["qqp", "sst2"], **MERGES[strategy])
    merged = merged_adapter_name(model.setup)
    sources = [adapter_params(build(base, "stack", inter_dirs), n) for n in ("qqp", "sst2")]
    settings = MERGES[strategy]["merge_settings"]
    if strategy == "task_arithmetic":  # 1.5 * (0.7 * qqp - 0.2 * sst2), every parameter
        expected = {k: 1.5 * (0.7 * sources[0][k] - 0.2 * sources[1][k]) for k in sources[0]}
    elif strategy == "ties":
        expected = ties(sources, [1.0, 1.0], 0.2)
    else:
        expected = dare(sources, [0.5, 0.5], 0.5, seed=3)
    got = adapter_params(model, merged)
    assert got.keys() == expected.keys()
    assert all(torch.allclose(got[k], expected[k], atol=1e-6) for k in got)
    if strategy == "ties":  # trimmed: at most 20% (rounded up) of each matrix survives in each source
        matrix = next(k for k in got if k.endswith("adapter_up.weight"))
        assert (got[matrix] != 0).float().mean() <= 0.4 + 1e-6
    # one adapter's cost: the sources are gone, only the merge and the target adapter run
    names = {n.split(".adapters.")[1].split(".")[0] for n, _ in model.encoder.named_parameters() if ".adapters." in n}
    assert names == {merged, "xnli"} and str(model.encoder.active_adapters) == f"Stack[{merged}, xnli]"
    assert all("adapters.xnli." in n or n.startswith("head.") for n in model.trainable_parameters())
    # saved as an ordinary adapter: a plain `stack` on that folder predicts exactly what the merge does
    save_model(model, tmp_path / "saved")
    folder = tmp_path / "saved" / f"adapter-{merged}"
    meta = json.loads((folder / "adaptx-adapter.json").read_text())
    assert meta["merged_from"]["strategy"] == strategy and meta["merged_from"]["settings"] == settings
    enc = load_encoder(str(base))
    plain = build_model(enc, Setup("stack", 3, own_adapter="xnli", frozen_adapters=[merged],
                                   base_fingerprint=model.setup.base_fingerprint), {merged: folder}).eval()
    plain.encoder.load_adapter(str(tmp_path / "saved" / "adapter-xnli"), load_as="xnli", with_head=False,
                               use_safetensors=True)
    plain.encoder.set_active_adapters(model.encoder.active_adapters)
    plain.head.load_state_dict(model.head.state_dict())
    ids, mask = torch.randint(5, 20, (3, 9)), torch.ones(3, 9, dtype=torch.long)
    assert torch.equal(model(ids, mask), plain(ids, mask))
    again = load_model(tmp_path / "saved", lambda _: load_encoder(str(base)), inter_dirs)
    assert torch.equal(model(ids, mask), again(ids, mask))


def test_a_saved_merge_is_what_a_reload_uses(tiny_model_dir_no_dropout, inter_dirs, tmp_path):
    """The stage predicts with the adapter it was trained on, even if the merge code changed since."""
    base = tiny_model_dir_no_dropout
    model = build(base, "ties", inter_dirs, merge=["qqp", "sst2"], **MERGES["ties"])
    merged = merged_adapter_name(model.setup)
    with torch.no_grad():  # as if it had been merged differently when the stage was trained
        next(p for n, p in model.encoder.named_parameters() if f"adapters.{merged}." in n).mul_(3.0)
    save_model(model, tmp_path / "saved")
    ids, mask = torch.randint(5, 20, (2, 7)), torch.ones(2, 7, dtype=torch.long)
    again = load_model(tmp_path / "saved", lambda _: load_encoder(str(base)), inter_dirs)
    assert torch.equal(model(ids, mask), again(ids, mask))


def hidden(model, ids, mask):
    return model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state


def test_average_weighs_the_adapters_outputs_and_keeps_the_residual(tiny_model_dir_no_dropout, inter_dirs):
    """weights (1, 0) are adapter qqp alone, (0, 1) sst2 alone; the default 1/n each is r + the mean of
    the up-projections, so the residual stream is not shrunk (adapters' Average means after weighting)."""
    from adapters.composition import Average, Stack

    base = tiny_model_dir_no_dropout
    ids, mask = torch.randint(5, 20, (2, 7)), torch.ones(2, 7, dtype=torch.long)
    reference = build(base, "stack", inter_dirs)
    with torch.no_grad():
        for weights, alone in (([1.0, 0.0], "qqp"), ([0.0, 1.0], "sst2")):
            model = build(base, "average", inter_dirs, average=["qqp", "sst2"], combine_weights=weights)
            reference.encoder.load_state_dict(model.encoder.state_dict(), strict=False)
            reference.encoder.set_active_adapters(Stack(alone, "xnli"))
            assert torch.allclose(hidden(model, ids, mask), hidden(reference, ids, mask), atol=1e-6)
        mean = build(base, "average", inter_dirs, average=["qqp", "sst2"])  # default weights: 1/2 each
        reference.encoder.load_state_dict(mean.encoder.state_dict(), strict=False)
        # the library's block with weights 1 is mean_k(r + up_k) = r + sum_k up_k / n, as docs/merging.md says
        reference.encoder.set_active_adapters(Stack(Average("qqp", "sst2", weights=[1.0, 1.0],
                                                            normalize_weights=False), "xnli"))
        assert torch.allclose(hidden(mean, ids, mask), hidden(reference, ids, mask), atol=1e-6)


def test_scaled_is_residual_plus_the_scaled_up_projections(tiny_model_dir_no_dropout, inter_dirs):
    """omega = (1, 0) in every layer is adapter qqp alone; (2, 0) is qqp with its up-projection doubled;
    the start (1/n each) is the mean of the adapters' outputs (library Average, weights 1)."""
    from adapters.composition import Average, Stack

    base = tiny_model_dir_no_dropout
    scaled = build(base, "scaled", inter_dirs, scaled=["qqp", "sst2"], scale_per_layer=True)
    ids, mask = torch.randint(5, 20, (2, 7)), torch.ones(2, 7, dtype=torch.long)
    reference = build(base, "stack", inter_dirs)  # the same target adapter (same seed) on qqp, sst2 loaded
    reference.encoder.load_state_dict(scaled.encoder.state_dict(), strict=False)
    with torch.no_grad():
        reference.encoder.set_active_adapters(Stack(Average("qqp", "sst2", weights=[1.0, 1.0],
                                                            normalize_weights=False), "xnli"))
        assert torch.allclose(hidden(scaled, ids, mask), hidden(reference, ids, mask), atol=1e-6)
        scaled.scales.omega.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
        reference.encoder.set_active_adapters(Stack("qqp", "xnli"))
        assert torch.allclose(hidden(scaled, ids, mask), hidden(reference, ids, mask), atol=1e-6)
        scaled.scales.omega.copy_(torch.tensor([[2.0, 2.0], [0.0, 0.0]]))
        for n, p in reference.encoder.named_parameters():
            if "adapters.qqp.adapter_up" in n:
                p.mul_(2.0)
        assert torch.allclose(hidden(scaled, ids, mask), hidden(reference, ids, mask), atol=1e-5)
        scaled.scales.omega.copy_(torch.tensor([[2.0, 1.0], [0.0, 0.0]]))  # layer 1 back to plain qqp
        assert not torch.allclose(hidden(scaled, ids, mask), hidden(reference, ids, mask), atol=1e-4)


@pytest.mark.parametrize("per_layer", [True, False])
def test_scaled_trains_only_its_scales_target_adapter_and_head_and_counts_as_documented(
        per_layer, tiny_model_dir_no_dropout, inter_dirs, tmp_path):
    base = tiny_model_dir_no_dropout
    model = build(base, "scaled", inter_dirs, scaled=["qqp", "sst2"], scale_per_layer=per_layer)
    layers = model.encoder.config.num_hidden_layers
    trainable = model.trainable_parameters()
    assert trainable["scales.omega"].numel() == 2 * (layers if per_layer else 1)  # docs/merging.md
    assert all(n == "scales.omega" or "adapters.xnli." in n or n.startswith("head.") for n in trainable)
    model.train()
    ids, mask = torch.randint(5, 20, (2, 7)), torch.ones(2, 7, dtype=torch.long)
    model(ids, mask).sum().backward()
    assert model.scales.omega.grad is not None and model.scales.omega.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        model.scales.omega.add_(torch.randn_like(model.scales.omega))
    save_model(model, tmp_path / "saved")
    again = load_model(tmp_path / "saved", lambda _: load_encoder(str(base)), inter_dirs)
    assert torch.equal(model(ids, mask), again(ids, mask))
    (tmp_path / "saved" / "scales.safetensors").unlink()
    with pytest.raises(AdaptxError, match="scales.safetensors"):
        load_model(tmp_path / "saved", lambda _: load_encoder(str(base)), inter_dirs)


def test_fusion_trains_what_docs_merging_says_beside_scaled(tiny_model_dir_no_dropout, inter_dirs):
    """The dynamic fusion layer: key and query (h x h + h each) and value (h x h, no bias) per layer,
    whatever the number of adapters."""
    base = tiny_model_dir_no_dropout
    enc = load_encoder(str(base))
    fuse = build_model(enc, Setup("fuse", 3, frozen_adapters=["qqp", "sst2"], fusion=["qqp", "sst2"],
                                  fusion_config=FusionSettings().library_settings(),
                                  base_fingerprint=config_fingerprint(enc.config)), inter_dirs)
    h, layers = enc.config.hidden_size, enc.config.num_hidden_layers
    fusion = sum(p.numel() for n, p in fuse.trainable_parameters().items() if not n.startswith("head."))
    assert fusion == layers * (3 * h * h + 2 * h)


# -- config, plan and search -----------------------------------------------------------------------

def config_for(tiny_model_dir, tmp_path, **extra):
    raw = {"base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli",
           "languages": ["en", "de"], "strategies": ["ties", "dare", "task_arithmetic", "scaled"], "max_seq_length": 16,
           "train": {"intermediate_steps": 2, "target_steps": 2, "batch_size": 4, "checkpoint_every": 1},
           "data": {"max_eval_examples": 6, "max_dev_examples": 6}, **extra}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("override, match", [
    ("combine.density=1.5", r"combine.density: must be in \(0, 1\]"),
    ("combine.density=0", r"combine.density: must be in \(0, 1\]"),
    ("combine.sign_method=majority", "combine.sign_method: 'majority'; allowed: total"),
    ("combine.scale=0", r"combine.scale: must be a finite number > 0"),
    ("intermediate_tasks=[qqp]", "strategy 'task_arithmetic' combines intermediate adapters"),
])
def test_merge_settings_are_checked_with_the_key_named(override, match, tiny_model_dir, tmp_path):
    with pytest.raises(AdaptxError, match=match):
        load_config(config_for(tiny_model_dir, tmp_path), [override])


def test_the_setups_carry_resolved_settings_and_seeds(tiny_model_dir, tmp_path):
    from adaptx.plan import plan_stages
    from adaptx.stage_recipe import _setup_recipe

    cfg = load_config(config_for(tiny_model_dir, tmp_path, seeds=[0, 4]), ["combine.sign_method=frequency"])
    stages = {s.id: s for s in plan_stages(cfg)}
    data = write_tiny_data(tmp_path / "data")
    exp = pipeline.Experiment(cfg, tmp_path / "run", str(data))
    exp.prepare(list(stages.values()))
    setup = {sid: exp.setup_for(s) for sid, s in stages.items() if s.kind == "target"}
    ties_setup, dare_setup = setup["target-xnli-ties-qqp+sst2-s0"], setup["target-xnli-dare-qqp+sst2-s4"]
    assert ties_setup.combine_weights == [1.0, 1.0] and ties_setup.merge == ["qqp", "sst2"]
    assert ties_setup.merge_settings == {"scale": 1.0, "density": DENSITY_DEFAULTS["ties"], "sign_method": "frequency"}
    assert dare_setup.combine_weights == [0.5, 0.5] and dare_setup.merge_settings["seed"] == 4
    assert setup["target-xnli-task_arithmetic-qqp+sst2-s0"].merge_settings == {"scale": 1.0}
    scaled = setup["target-xnli-scaled-qqp+sst2-s0"]
    assert scaled.scaled == ["qqp", "sst2"] and scaled.scale_per_layer is True and not scaled.merge
    assert "merge_settings" not in _setup_recipe(scaled) and "scaled" not in _setup_recipe(ties_setup)


def test_each_combine_setting_applies_to_the_compositions_that_read_it(tiny_model_dir, tmp_path):
    assert COMBINE_KEYS["combine.density"] == ("ties", "dare")
    assert COMBINE_KEYS["combine.scale"] == ("task_arithmetic", "ties", "dare")
    assert COMBINE_KEYS["combine.scale_per_layer"] == ("scaled",)
    assert "scaled" not in COMBINE_KEYS["combine.weights"]  # scaled learns its weights
    search = {"compositions": ["stack", "fuse", "merge", "ties", "dare", "scaled"], "objectives": ["dev", "latency"],
              "space": {"combine.density": {"low": 0.1, "high": 0.9}, "combine.weights": {"low": 0.0, "high": 1.0},
                        "combine.scale_per_layer": [True, False], "combine.sign_method": ["total", "frequency"]}}
    cfg = load_config(config_for(tiny_model_dir, tmp_path, search=search))
    spec = parse_search(cfg, "exp.yaml")
    applies = {p.key: p.applies for p in spec.params}
    assert applies == {"combine.density": ("ties", "dare"), "combine.scale_per_layer": ("scaled",),
                       "combine.sign_method": ("ties",)}
    assert spec.weights.applies == ("merge", "ties", "dare")
    with pytest.raises(AdaptxError, match="applies only to ties and dare"):
        parse_search(load_config(config_for(tiny_model_dir, tmp_path, search=dict(
            search, compositions=["stack", "fuse"], space={"combine.density": [0.5]}))), "exp.yaml")
    with pytest.raises(AdaptxError, match=r"combine.density: value 2 is not valid"):
        load_config(config_for(tiny_model_dir, tmp_path, search=dict(search, space={"combine.density": [0.5, 2]})))


def test_a_tiny_run_of_every_new_strategy_publishes_a_merge_and_predicts_from_it(tiny_model_dir, tmp_path,
                                                                                   adaptx_home, capsys):
    from adaptx.cli import main
    from adaptx.predict import load

    data = write_tiny_data(tmp_path / "data")
    out = tmp_path / "run"
    pipeline.run_experiment(config_for(tiny_model_dir, tmp_path), data_dir=data, out_dir=out)
    records = json.loads((out / "results.json").read_text())
    assert {r["strategy"] for r in records} == {"ties", "dare", "task_arithmetic", "scaled"}
    stages = {p.name.rsplit("-", 1)[0]: p for p in (out / "stages").iterdir() if not p.name.startswith(".")}
    ties_stage = stages["target-xnli-ties-qqp+sst2-s0"]
    assert any(p.name.startswith("adapter-qqp-s0-") and "+" in p.name for p in (ties_stage / "model").iterdir())
    scaled_metrics = json.loads((stages["target-xnli-scaled-qqp+sst2-s0"] / "metrics.json").read_text())
    ties_metrics = json.loads((ties_stage / "metrics.json").read_text())
    layers = load_encoder(str(tiny_model_dir)).config.num_hidden_layers
    assert scaled_metrics["trainable_parameters"] - ties_metrics["trainable_parameters"] == 2 * layers
    zoo = tmp_path / "zoo"
    assert main(["zoo", "add", str(ties_stage), "--name", "xnli-ties", "--zoo", str(zoo)]) == 0
    card = json.loads((zoo / "xnli-ties" / "card.json").read_text())
    assert card["kind"] == "target" and len(card["members"]) == 2
    assert main(["zoo", "verify", "xnli-ties", "--zoo", str(zoo)]) == 0
    assert main(["zoo", "export", "xnli-ties", str(tmp_path / "export"), "--zoo", str(zoo)]) == 0
    merged = next(p for p in (tmp_path / "export").iterdir() if "+" in p.name)  # a plain AdapterHub folder
    enc = load_encoder(str(tiny_model_dir))
    import adapters

    adapters.init(enc)
    assert enc.load_adapter(str(merged), use_safetensors=True) == merged.name
    capsys.readouterr()
    rows = [{"text_a": "the cat sat", "text_b": "a dog"}, {"text_a": "the sea", "text_b": "the mat"}]
    from_zoo, from_stage = load("zoo:xnli-ties", zoo=zoo), load(ties_stage)
    assert from_zoo.predict(rows) == from_stage.predict(rows)


def test_the_docs_name_every_new_strategy():
    text = (Path(__file__).resolve().parents[1] / "docs" / "merging.md").read_text()
    for name in ("task_arithmetic", "ties", "dare", "scaled", "combine.density", "combine.scale_per_layer"):
        assert f"`{name}`" in text
