"""The paper's two alternatives as options of intermediate stages: masked-LM batches on raw
multilingual text mixed into intermediate training (static BERT masking, an MLM head tied to the
word embeddings), and machine-translated intermediate training data (beside or instead of the
English); plus adapter names (task, seed, base) and loading a stage saved under the old names."""

import json
import shutil

import pytest
import torch
import yaml
from transformers import AutoTokenizer

from adaptx import pipeline
from adaptx.data import load_split
from adaptx.errors import AdaptxError
from adaptx.kinds import get_kind
from adaptx.tasks import Task
from tiny_data import write_tiny_data

MLM_TASK = Task(name="mlm", role="intermediate", kind="mlm", labels=(), languages=(),
                params={"mask_probability": 0.15})
TEXTS = ["der Hund sitzt auf der Matte", "le chat est sur le tapis", "el perro", "猫が座った",
         "the sea and the sun and the cat " * 8]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_masking_is_static_bert_style_and_never_touches_special_tokens(tokenizer):
    kind = get_kind("mlm")
    a, b = (kind.encode(MLM_TASK, TEXTS, tokenizer, 64) for _ in range(2))
    assert [f.input_ids for f in a.features] == [f.input_ids for f in b.features]  # static: the same every time
    plain = tokenizer(TEXTS, truncation=True, max_length=64)["input_ids"]
    specials = set(tokenizer.all_special_ids)
    for feature, original in zip(a.features, plain):
        positions = feature.data["positions"]
        assert positions and all(original[j] not in specials for j in positions)
        assert feature.data["targets"] == [original[j] for j in positions]
        assert [t for j, t in enumerate(feature.input_ids) if j not in positions] == [
            t for j, t in enumerate(original) if j not in positions]  # only chosen tokens change
    many = kind.encode(MLM_TASK, [TEXTS[-1]] * 400, tokenizer, 64)
    chosen = sum(len(f.data["positions"]) for f in many.features)
    maskable = sum(len([t for t in f.input_ids if t not in specials or t == tokenizer.mask_token_id])
                   for f in many.features)
    masked = sum(f.input_ids[j] == tokenizer.mask_token_id for f in many.features for j in f.data["positions"])
    assert 0.12 < chosen / maskable < 0.18 and 0.75 < masked / chosen < 0.85  # 15%; 80% of them <mask>
    batch = kind.collate(a.features[:2], tokenizer.pad_token_id)
    width = batch["input_ids"].shape[1]
    flat = batch["input_ids"].flatten()[batch["head_inputs"]["positions"]]
    expected = [a.features[i].input_ids[j] for i in range(2) for j in a.features[i].data["positions"]]
    assert flat.tolist() == expected and batch["labels"].tolist() == a.features[0].data["targets"] + \
        a.features[1].data["targets"] and width == max(len(f) for f in a.features[:2])
    assert kind.loss_terms(a.features[0]) == len(a.features[0].data["positions"])  # the mean over masked tokens


def test_the_mlm_head_is_tied_to_the_word_embeddings_and_not_saved(tiny_model_dir, tokenizer):
    from adaptx.modeling import Setup, build_model
    from adaptx.models import load_encoder

    encoder = load_encoder(str(tiny_model_dir), "fp32")
    vocab = encoder.config.vocab_size
    setup = Setup("intermediate", 0, kind="mixture", own_adapter="qqp", heads={
        "qqp": {"kind": "classification", "num_labels": 2}, "mlm": {"kind": "mlm", "num_labels": vocab}})
    model = build_model(encoder, setup)
    head = model.head.heads["mlm"]
    assert head.__dict__["_embeddings"] is model.encoder.get_input_embeddings()  # shared, not copied
    assert not any("word_embeddings" in k for k in model.head.state_dict())
    assert {n for n, p in model.trainable_parameters().items() if "word_embeddings" in n} == set()  # frozen base
    kind = get_kind("mlm")
    batch = kind.collate(kind.encode(MLM_TASK, TEXTS[:2], tokenizer, 32).features, tokenizer.pad_token_id)
    from adaptx.train import forward_batch

    batch["task"] = "mlm"
    logits = forward_batch(model, batch, torch.device("cpu"))
    assert logits.shape == (len(batch["labels"]), vocab)
    assert torch.isfinite(kind.loss(logits, batch))


@pytest.fixture
def setup(tmp_path, tiny_model_dir, adaptx_home):
    data = write_tiny_data(tmp_path / "data")
    text = tmp_path / "raw"
    (text / "de").mkdir(parents=True)
    (text / "de" / "a.txt").write_text("\n".join(TEXTS[:3]) + "\n\n")
    (text / "zh.txt").write_text(TEXTS[3] + "\n")
    config = {
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"], "target_task": "xnli",
        "languages": ["en", "de"], "strategies": ["stack"], "max_seq_length": 16,
        "train": {"intermediate_steps": 4, "target_steps": 2, "batch_size": 4, "checkpoint_every": 2},
        "data": {"max_eval_examples": 4, "max_dev_examples": 6},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, data, text, tmp_path


def stages_of(out):
    return {p.name.rsplit("-", 1)[0]: p for p in (out / "stages").iterdir()}


def test_masked_lm_batches_mixed_into_an_intermediate_stage(setup, capsys):
    config, data, text, tmp = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp / "plain")
    overrides = [f"intermediate.mlm.source={text}", "intermediate.mlm.rate=0.5"]
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp / "mlm", overrides=overrides)
    printed = capsys.readouterr().out
    plain, mlm = stages_of(tmp / "plain"), stages_of(tmp / "mlm")
    stage = mlm["intermediate-adapter-qqp-s0"]
    assert stage.name != plain["intermediate-adapter-qqp-s0"].name  # another stage hash: another adapter
    metrics = json.loads((stage / "metrics.json").read_text())
    assert metrics["mixture"]["step_share"] == {"qqp": 0.5, "mlm": 0.5} and metrics["mixture"]["examples"]["mlm"] == 4
    assert metrics["train"]["metric"] == "mixture_mean" and metrics["data"]["dev_rows"] == 6  # selected on qqp only
    assert any("masked-LM batches" in n and "tied to the word embeddings" in n for n in metrics["notes"])
    setup_json = json.loads((stage / "model" / "setup.json").read_text())
    assert set(setup_json["heads"]) == {"qqp", "mlm"}
    manifest = json.loads((stage / "manifest.json").read_text())
    assert manifest["recipe"]["mixture"]["mlm"]["rate"] == 0.5
    assert "of steps are masked-LM batches on 4 texts" in printed
    assert "target-xnli-stack-qqp-s0" in mlm  # stacked like any intermediate adapter
    # the target stage is unaffected by the option except through the adapter under it
    assert json.loads((mlm["target-xnli-stack-qqp-s0"] / "model" / "setup.json").read_text())["heads"] == {}


def test_raw_text_from_the_hub_and_missing_text(monkeypatch, tmp_path):
    import datasets

    from adaptx.data import load_raw_text

    seen = []

    def load_dataset(name, config=None, split=None, **_):
        seen.append((name, config, split))
        return datasets.Dataset.from_dict({"text": ["", " = Title = ", "Ein Satz .", None]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    loaded = load_raw_text("hub:wikitext:wikitext-2-raw-v1")
    assert loaded.examples == [" = Title = ", "Ein Satz ."] and seen == [("wikitext", "wikitext-2-raw-v1", "train")]
    with pytest.raises(AdaptxError, match=r"intermediate.mlm.source: .* is not a folder with .txt files"):
        load_raw_text(str(tmp_path))


def test_translated_intermediate_data_beside_or_instead_of_the_english(setup, capsys):
    config, data, _, tmp = setup
    translated = tmp / "translated"
    for lang in ("de", "fr"):
        (translated / lang / "qqp").mkdir(parents=True)
        records = json.loads((data / "qqp" / "ppft_train_subset.json").read_text())
        for r in records.values():
            r["text_a"] = f"[{lang}] {r['text_a']}"
        (translated / lang / "qqp" / "ppft_train_subset.json").write_text(json.dumps(dict(list(records.items())[:10])))
    base = [f"intermediate.translated.dir={translated}", "intermediate.translated.languages=[de, fr]"]
    cfg = pipeline.load_config(config, base)
    experiment = pipeline.Experiment(cfg, tmp / "x", str(data))
    added = experiment.split("qqp", "train")
    assert len(added.examples) == 24 + 10 + 10 and added.examples[24].text_a.startswith("[de] ")
    assert experiment.split("qqp", "dev").examples == load_split(
        experiment.task("qqp"), "dev", "en", "local", data).examples  # English dev still selects
    cfg = pipeline.load_config(config, base + ["intermediate.translated.mode=replace"])
    replaced = pipeline.Experiment(cfg, tmp / "y", str(data)).split("qqp", "train")
    assert len(replaced.examples) == 20 and all(e.text_a[:4] in ("[de]", "[fr]") for e in replaced.examples)
    # xnli trains on the same English MNLI file but is a target: never translated
    assert len(pipeline.Experiment(cfg, tmp / "y", str(data)).split("xnli", "train").examples) == 24

    pipeline.run_experiment(config, data_dir=data, out_dir=tmp / "run", overrides=base)
    printed = capsys.readouterr().out
    metrics = json.loads((stages_of(tmp / "run")["intermediate-adapter-qqp-s0"] / "metrics.json").read_text())
    assert metrics["data"]["train_rows"] == 44
    assert any("machine-translated training rows (English 24, de 10, fr 10)" in n for n in metrics["notes"])
    assert "English + machine-translated de, fr" in printed
    shutil.rmtree(translated / "fr")
    with pytest.raises(AdaptxError, match=r"missing data file .*translated/fr/qqp/ppft_train_subset.json"):
        pipeline.run_experiment(config, data_dir=data, out_dir=tmp / "run2", overrides=base)


@pytest.mark.parametrize("overrides, match", [
    (["intermediate.mlm.source=d", "intermediate.mlm.rate=1"], r"intermediate.mlm.rate: must be in \(0, 1\)"),
    (["intermediate.mlm.source='hub:'"], r"intermediate.mlm.source: 'hub:': expected a folder"),
    (["intermediate.translated.dir=t"], r"intermediate.translated.languages: empty"),
    (["intermediate.translated.dir=t", "intermediate.translated.languages=[en]"],
     r"translated.languages\[0\]: 'en': expected a language code"),
    (["intermediate.translated.dir=t", "intermediate.translated.languages=[de]", "intermediate_tasks=[qqp]",
      "intermediate.translated.tasks=[sst2]"], r"translated.tasks\[0\]: 'sst2' is not an intermediate task this"),
    (["intermediate.translated.mode=both"], r"intermediate.translated.mode: 'both'; allowed: add"),
])
def test_alternative_config_errors(overrides, match):
    with pytest.raises(AdaptxError, match=match):
        pipeline.load_config(None, overrides)


def test_a_stage_saved_under_the_old_adapter_name_still_loads_and_publishes(setup, capsys):
    """Runs from before adapter names carried seed and base saved `adapter-qqp/` with own_adapter 'qqp';
    the stage hash is the same, so a new target stage builds on that folder."""
    from adaptx.cli import main

    config, data, _, tmp = setup
    out = tmp / "run"
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["strategies=[none]", "target_task=xnli",
                                                                          "intermediate_tasks=[qqp]"])
    cfg = pipeline.load_config(config)
    experiment = pipeline.Experiment(cfg, out, str(data))
    (stage,) = [s for s in pipeline.plan_stages(cfg) if s.id == "intermediate-adapter-qqp-s0"]
    experiment.prepare(pipeline.plan_stages(cfg))
    experiment.run_stage(stage)
    model = experiment.stage_dir(stage.id) / "model"
    new_name = json.loads((model / "setup.json").read_text())["own_adapter"]
    assert new_name == f"qqp-s0-{experiment.base_tag}"
    (model / f"adapter-{new_name}").rename(model / "adapter-qqp")  # what an older adaptx wrote
    old = json.loads((model / "setup.json").read_text())
    (model / "setup.json").write_text(json.dumps({**old, "own_adapter": "qqp"}))
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    printed = capsys.readouterr().out
    assert "= intermediate-adapter-qqp-s0: done before, skipped" in printed and "+ target-xnli-stack-qqp-s0" in printed
    stack = stages_of(out)["target-xnli-stack-qqp-s0"]
    assert main(["zoo", "add", str(stack), "--name", "stack-old", "--zoo", str(tmp / "zoo")]) == 0
    card = json.loads((tmp / "zoo" / "stack-old" / "card.json").read_text())
    assert [m["name"] for m in card["members"]] == [new_name]
