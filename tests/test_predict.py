"""`adaptx.load(...).predict(...)` and `adaptx predict`: a trained stage (or zoo entry) predicts rows
of one's own, for every kind that predicts, exactly as the run's own evaluation predicted them."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

import adaptx
from adaptx import cli, pipeline, zoo
from adaptx.config import load_config
from adaptx.data import load_split
from adaptx.errors import AdaptxError
from adaptx.kinds import get_kind
from adaptx.plan import plan_stages
from adaptx.run_folder import StageFolder
from adaptx.tasks import get_task
from adaptx.train import predict as run_predict
from tiny_data import write_tiny_data
from tiny_intermediate import write_tiny_intermediate
from tiny_xtreme import write_tiny_xtreme

XNLI_STACK = "target-xnli-stack-commonsenseqa-s0"


def _run(root: Path, data: Path, config: dict, name: str) -> Path:
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return pipeline.run_experiment(path, data_dir=data, out_dir=root / name)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_dir):
    """One tiny run with a stage of every kind that predicts (classification, tagging, QA targets; a
    multiple-choice intermediate adapter), stacked and fully fine-tuned."""
    root = tmp_path_factory.mktemp("predict")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAPTX_HOME", str(root / "home"))
        data = write_tiny_xtreme(write_tiny_data(root / "data"))
        write_tiny_intermediate(data)
        config = {"base_model": str(tiny_model_dir), "device": "cpu", "intermediate_tasks": ["commonsenseqa"],
                  "target_task": ["xnli", "udpos", "xquad"], "strategies": ["none", "stack", "full"],
                  "max_seq_length": 32, "train": {"intermediate_steps": 2, "target_steps": 2, "batch_size": 4,
                                                  "checkpoint_every": 2},
                  "data": {"max_eval_examples": 6, "max_dev_examples": 4}}
        yield _run(root, data, config, "run"), data, root


def stage_folder(run_dir: Path, stage_id: str) -> Path:
    return next(p for p in (run_dir / "stages").iterdir() if p.name.rsplit("-", 1)[0] == stage_id)


def row_of(example) -> dict:
    """A user's input row for a loaded example (the fields docs/predict.md names per kind)."""
    if hasattr(example, "choices"):
        return {"context": example.context, "question": example.question, "choices": list(example.choices)}
    if hasattr(example, "words"):
        return {"tokens": list(example.words)}
    if hasattr(example, "context"):
        return {"question": example.question, "context": example.context}
    return {"premise": example.text_a, "hypothesis": example.text_b}


def said(record: dict, task):
    """A prediction record as the kind's decode says it (an evaluation file's `pred`)."""
    if task.kind == "classification":
        return task.labels.index(record["label"])
    if task.kind == "multiple_choice":
        return record["choice"]
    return record["tags"] if task.kind == "tagging" else record["answer"]


@pytest.mark.parametrize("stage_id", [XNLI_STACK, "target-xnli-full-commonsenseqa-s0",
                                      "target-udpos-stack-commonsenseqa-s0", "target-xquad-stack-commonsenseqa-s0"])
def test_predictions_equal_the_runs_own_evaluation_files(run, stage_id):
    """The rows of every evaluation file, given as a user gives rows, get the predictions written in it."""
    run_dir, data, _ = run
    folder = stage_folder(run_dir, stage_id)
    predictor = adaptx.load(run_dir, stage=stage_id, device="cpu")
    task = get_task(predictor.task)
    assert predictor.stage == stage_id and predictor.dtype == json.loads(
        (folder / "manifest.json").read_text())["recipe"]["dtype"]
    compared = []
    for path in sorted((folder / "eval").glob("*.json")):
        lang, result = next(iter(json.loads(path.read_text()).items()))
        examples = load_split(task, f"eval-{result['split']}", lang, "local", data).examples
        records = predictor.predict([row_of(examples[i]) for i in result["ids"]])
        assert [said(r, task) for r in records] == result["pred"], f"{path.name}"
        compared += result["pred"]
    assert len(compared) >= 12 and len({json.dumps(p) for p in compared}) > 1  # not one answer for every row


def check_like_the_pipeline(run_dir: Path, stage_id: str, split: str = "dev") -> None:
    """Probabilities and predictions equal those of the pipeline's own loader on its own encoded rows
    (its frozen adapters, head, fusion and dtype)."""
    cfg = load_config(run_dir / "config.yaml")
    experiment = pipeline.Experiment(cfg, run_dir, cfg.data.dir)
    stage = next(s for s in plan_stages(cfg) if s.id == stage_id)
    experiment.prepare(plan_stages(cfg))
    theirs = experiment.load_trained(stage)  # on the run's device: cpu
    predictor = adaptx.load(stage_folder(run_dir, stage_id), device="cpu")
    encoding = experiment.data(stage.task, split)
    rows = [row_of(e) for e in encoding.examples]
    mine = predictor.predict(rows)
    assert mine == replace(predictor, model=theirs).predict(rows)  # bit for bit, probabilities included
    task = get_task(stage.task)
    assert [said(r, task) for r in mine] == run_predict(theirs, encoding, predictor.tokenizer.pad_token_id)


@pytest.mark.parametrize("stage_id", [XNLI_STACK, "target-xquad-none-s0", "target-udpos-full-commonsenseqa-s0",
                                      "intermediate-adapter-commonsenseqa-s0", "intermediate-full-commonsenseqa-s0"])
def test_the_loaded_model_is_the_one_the_run_evaluated(run, stage_id):
    """Every predicting kind, multiple choice (an intermediate task's own dev rows) included."""
    check_like_the_pipeline(run[0], stage_id)


def test_a_fusion_stage_predicts_with_its_fused_adapters_and_temperature(run, tiny_model_dir):
    """The fusion's adapters come from two other stages (the intermediate one and the target's own)."""
    _, data, root = run
    config = {"base_model": str(tiny_model_dir), "device": "cpu", "intermediate_tasks": ["qqp"],
              "target_task": "xnli", "languages": ["en"], "strategies": ["fuse"],
              "fusion": {"include_target_adapter": True},
              "max_seq_length": 16,
              "train": {"intermediate_steps": 2, "target_steps": 2, "batch_size": 4, "checkpoint_every": 2},
              "data": {"max_eval_examples": 6, "max_dev_examples": 4}}
    run_dir = _run(root, data, config, "fuse")
    check_like_the_pipeline(run_dir, "target-xnli-fuse-qqp+xnli-s0")
    predictor = adaptx.load(run_dir, device="cpu")  # its one evaluated stage
    assert predictor.stage == "target-xnli-fuse-qqp+xnli-s0" and predictor.model.fusion_temperature() is not None


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_cli_reads_jsonl_and_tsv_and_writes_what_the_python_api_returns(run, tmp_path, capsys):
    run_dir, _, _ = run
    rows = [{"id": "a", "premise": "the cat sat on the mat", "hypothesis": "a dog sat"},
            {"id": "b", "premise": "the sea", "hypothesis": "the sea is a hat"},
            {"id": "c", "premise": "a hat", "hypothesis": "the cat"}]
    jsonl, tsv = tmp_path / "rows.jsonl", tmp_path / "rows.tsv"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tsv.write_text("id\tpremise\thypothesis\n"
                   + "".join(f"{r['id']}\t{r['premise']}\t{r['hypothesis']}\n" for r in rows))
    loaded = adaptx.load(run_dir, stage=XNLI_STACK, device="cpu")
    expected = loaded.predict(rows)
    assert [r["id"] for r in expected] == ["a", "b", "c"]
    assert all(r["label"] in get_task("xnli").labels for r in expected)
    for source in (jsonl, tsv):
        out = tmp_path / f"{source.suffix[1:]}-out.jsonl"
        assert cli.main(["predict", str(run_dir), "--stage", XNLI_STACK, "--input", str(source), "--out", str(out),
                         "--device", "cpu"]) == 0
        assert _lines(out) == expected
        err = capsys.readouterr().err
        assert f"3 rows predicted with stage {XNLI_STACK}" in err and f"; base in {loaded.dtype} ({loaded.dtype_reason})" in err
    assert cli.main(["predict", str(stage_folder(run_dir, XNLI_STACK)), "--input", str(jsonl), "--device", "cpu"]) == 0
    printed = capsys.readouterr()  # no --out: standard output
    assert [json.loads(line) for line in printed.out.splitlines()] == expected and "adaptx:" not in printed.out


@pytest.mark.parametrize("stage_id, header, line, check", [
    ("target-udpos-stack-commonsenseqa-s0", "text", "the cat sat", lambda r: r["tokens"] == ["the", "cat", "sat"]
     and len(r["tags"]) == len(r["scores"]) == 3 and all(t in get_task("udpos").labels for t in r["tags"])),
    ("target-xquad-stack-commonsenseqa-s0", "question\tcontext", "who sat\tthe cat sat on the mat.",
     lambda r: r["answer"] == "the cat sat on the mat."[r["start"]:r["end"]] and 0 < r["score"] <= 1),
    ("intermediate-adapter-commonsenseqa-s0", "question\tchoice0\tchoice1\tchoice2\tchoice3\tchoice4",
     "what sat\tyes cat\tno dog\tno sea\tno hat\tno mat",
     lambda r: r["answer"] == ["yes cat", "no dog", "no sea", "no hat", "no mat"][r["choice"]]
     and r["label"] == "ABCDE"[r["choice"]] and abs(sum(r["probabilities"]) - 1) < 1e-5),
])
def test_every_predicting_kind_reads_its_fields_from_a_tsv(run, tmp_path, stage_id, header, line, check):
    run_dir, _, _ = run
    path = tmp_path / "rows.tsv"
    path.write_text(f"{header}\n{line}\n")
    out = tmp_path / "out.jsonl"
    assert cli.main(["predict", str(run_dir), "--stage", stage_id, "--input", str(path), "--out", str(out)]) == 0
    (record,) = _lines(out)
    assert check(record), record


def test_a_run_folder_uses_its_best_evaluated_stage_or_asks_which(run, tmp_path):
    run_dir, _, _ = run
    with pytest.raises(AdaptxError, match=r"it evaluated 3 target tasks; pick the stage to predict with: --stage ID"
                                          r"[\s\S]*target-udpos-none-s0  \(udpos, none; zero-shot token_accuracy"):
        adaptx.load(run_dir)
    # the same run with only its xnli results, where `stack` scores best
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    records = [r for r in json.loads((run_dir / "results.json").read_text()) if r["task"] == "xnli"]
    for r in records:
        r["value"] = 60.0 if r["strategy"] == "stack" else 40.0
    (copy / "results.json").write_text(json.dumps(records))
    predictor = adaptx.load(copy, device="cpu")
    assert predictor.stage == XNLI_STACK
    assert "the best average zero-shot accuracy (60.0)" in predictor.note and "target-xnli-none-s0" in predictor.note
    assert adaptx.load(copy, stage="full").stage == "target-xnli-full-commonsenseqa-s0"  # a strategy, unique here
    name = stage_folder(copy, "target-xnli-none-s0").name
    assert adaptx.load(copy, stage=name).stage == "target-xnli-none-s0"  # a folder name


def test_the_default_stage_passes_over_one_whose_weights_a_smoke_run_dropped(run, tmp_path):
    run_dir, _, _ = run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    records = [r for r in json.loads((run_dir / "results.json").read_text()) if r["task"] == "xnli"]
    for r in records:
        r["value"] = {"full": 70.0, "stack": 60.0}.get(r["strategy"], 40.0)
    (copy / "results.json").write_text(json.dumps(records))
    full = StageFolder(stage_folder(copy, "target-xnli-full-commonsenseqa-s0"))
    assert full.drop_encoder("a smoke run keeps no full-model stage's weights") > 0
    predictor = adaptx.load(copy, device="cpu")
    assert predictor.stage == XNLI_STACK
    assert "passed over target-xnli-full-commonsenseqa-s0: its weights were dropped" in predictor.note
    with pytest.raises(AdaptxError, match="no encoder weights here: a smoke run keeps no"):
        adaptx.load(copy, stage="full")  # named explicitly: the reason, not another stage


def test_an_unknown_or_ambiguous_stage_lists_the_stages(run):
    run_dir, _, _ = run
    with pytest.raises(AdaptxError, match=r"no stage 'target-xnli-fuse-s0'; pass one of these ids[\s\S]*"
                                          r"intermediate-adapter-commonsenseqa-s0  \(commonsenseqa, intermediate\)"):
        adaptx.load(run_dir, stage="target-xnli-fuse-s0")
    with pytest.raises(AdaptxError, match=r"--stage 'stack' names 3 stages") as info:
        adaptx.load(run_dir, stage="stack")
    assert "target-udpos-stack-commonsenseqa-s0" in str(info.value) and "target-xnli-none" not in str(info.value)
    with pytest.raises(AdaptxError, match=r"--stage picks a stage of a run folder; .* is a stage folder already"):
        adaptx.load(stage_folder(run_dir, XNLI_STACK), stage="stack")


@pytest.mark.parametrize("stage_id, row, message", [
    (XNLI_STACK, {"premise": "a cat"}, r"row 1: xnli classifies sentence pairs: expected the fields premise and "
                                       r"hypothesis \(or text_a and text_b\); found 'premise'"),
    (XNLI_STACK, {"premise": 3, "hypothesis": "x"}, r"row 1: field 'premise' is int \(3\); expected text"),
    (XNLI_STACK, ["a", "b"], r"row 1: expected an object with the fields premise and hypothesis"),
    ("target-udpos-stack-commonsenseqa-s0", {"tokens": []}, r"row 1: udpos tags words: expected the field tokens"),
    ("target-udpos-stack-commonsenseqa-s0", {"tokens": ["a", None]}, r"row 1, tokens\[1\]: field 'token' is null"),
    ("target-xquad-stack-commonsenseqa-s0", {"question": "who?"}, r"row 1: xquad answers questions from a context: "
                                                                  r"expected the fields question and context; context "
                                                                  r"missing"),
    ("intermediate-adapter-commonsenseqa-s0", {"question": "what?", "choices": ["a"]},
     r"row 1: commonsenseqa needs at least two answer choices"),
    ("intermediate-adapter-commonsenseqa-s0", {"choices": ["a", "b"]}, r"row 1: commonsenseqa needs a context or a "
                                                                       r"question"),
])
def test_a_bad_row_names_the_row_the_field_and_what_the_task_expects(run, stage_id, row, message):
    run_dir, _, _ = run
    predictor = adaptx.load(run_dir, stage=stage_id, device="cpu")
    with pytest.raises(AdaptxError, match=message):
        predictor.predict([row])


def test_predict_takes_a_list_of_rows_and_a_positive_batch_size(run):
    predictor = adaptx.load(run[0], stage=XNLI_STACK, device="cpu")
    row = {"premise": "a cat", "hypothesis": "a dog"}
    with pytest.raises(AdaptxError, match=r"predict\(\) takes a list of rows; wrap a single row in a list"):
        predictor.predict(row)
    with pytest.raises(AdaptxError, match=r"batch size 0: expected a whole number of rows >= 1"):
        predictor.predict([row], batch_size=0)
    assert predictor.predict([]) == []
    one = predictor.predict([row])[0]["label"]
    assert [r["label"] for r in predictor.predict([row] * 3, batch_size=2)] == [one] * 3  # two batches


@pytest.mark.parametrize("name, text, message", [
    ("rows.jsonl", '{"premise": "a", "hypothesis": "b"}\n\n{"premise": "c"}\n', r"rows.jsonl, line 3: xnli classifies "
                                                                                  r"sentence pairs"),
    ("rows.jsonl", '{"premise": "a", "hypothesis": "b"}\n{"premise": \n', r"rows.jsonl, line 2: not a JSON object"),
    ("rows.jsonl", '["a", "b"]\n', r"rows.jsonl, line 1: expected a JSON object, got list"),
    ("rows.tsv", "premise\thypothesis\na\tb\tc\n", r"rows.tsv, line 2: 3 tab-separated fields, but the header "
                                                   r"\(premise, hypothesis\) has 2"),
    ("rows.tsv", "premise\thypothesis\n", r"rows.tsv: no rows"),
    ("rows.csv", "premise,hypothesis\na,b\n", r"expected a .jsonl file \(one JSON object per line\) or a .tsv file"),
])
def test_a_bad_input_file_is_a_clear_error_naming_file_and_line(run, tmp_path, capsys, name, text, message):
    run_dir, _, _ = run
    path = tmp_path / name
    path.write_text(text)
    assert cli.main(["predict", str(run_dir), "--stage", XNLI_STACK, "--input", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("adaptx: error: ") and "Traceback" not in err
    assert __import__("re").search(message, err), err


@pytest.fixture(scope="module")
def ccg_run(run, tiny_model_dir):
    """CCG (its labels read from its data) stacked under a retrieval target (Tatoeba: nothing trained)."""
    _, data, root = run
    config = {"base_model": str(tiny_model_dir), "device": "cpu", "intermediate_tasks": ["ccg"],
              "target_task": "tatoeba", "languages": ["de"], "strategies": ["stack"], "max_seq_length": 16,
              "train": {"intermediate_steps": 2, "batch_size": 4, "checkpoint_every": 2},
              "data": {"max_eval_examples": 4, "max_dev_examples": 4}}
    return _run(root, data, config, "ccg"), config


def test_a_retrieval_stage_has_no_model_to_predict_with(ccg_run):
    run_dir, _ = ccg_run
    with pytest.raises(AdaptxError, match=r"stage target-tatoeba-stack-ccg-s0 has no trained model .*a retrieval "
                                          r"task has no prediction head"):
        adaptx.load(stage_folder(run_dir, "target-tatoeba-stack-ccg-s0"))
    with pytest.raises(AdaptxError, match=r"has no trained model .*a retrieval task has no prediction head"):
        adaptx.load(run_dir, stage="target-tatoeba-stack-ccg-s0")  # named in its run folder
    with pytest.raises(AdaptxError, match=r"not a run folder .*, a stage folder .*, zoo:NAME or a zoo entry folder"):
        adaptx.load(run_dir / "nothing-here")


def test_ccg_predicts_with_the_labels_read_from_its_data(run, ccg_run):
    _, data, _ = run
    run_dir, _ = ccg_run
    predictor = adaptx.load(run_dir, device="cpu")  # the run's only stage with a model
    labels = (data / "ccg" / "categories").read_text().split()
    assert predictor.stage == "intermediate-adapter-ccg-s0" and "the run's only stage with a model" in predictor.note
    assert predictor.labels == labels and predictor.kind == "tagging"
    (record,) = predictor.predict(["the cat sat ."])  # a plain string: its text, split at whitespace
    assert record["tokens"] == ["the", "cat", "sat", "."] and set(record["tags"]) <= set(labels)


def test_a_model_trained_with_masked_lm_batches_is_refused(run, ccg_run):
    """An intermediate stage mixed with masked-LM batches has one head per task: refused, saying so."""
    _, data, root = run
    _, config = ccg_run
    text = root / "text"
    text.mkdir(exist_ok=True)
    (text / "a.txt").write_text("the cat sat on the mat\na dog sat on a hat\n" * 4)
    mixed = _run(root, data, {**config, "intermediate": {"mlm": {"source": str(text), "rate": 0.5}}}, "mlm")
    with pytest.raises(AdaptxError, match=r"stage intermediate-adapter-ccg-s0 is a multi-task model \(one head per "
                                          r"task: ccg, mlm\); predicting with one of its heads is not supported"):
        adaptx.load(mixed)


def test_zoo_entries_predict_like_the_stages_they_were_published_from(run, tmp_path):
    run_dir, _, _ = run
    root = tmp_path / "zoo"
    rows = [{"premise": "the cat", "hypothesis": "a dog sat"}, {"premise": "a hat", "hypothesis": "the sea"}]
    zoo.add_entry(root, stage_folder(run_dir, XNLI_STACK), "xnli-stack")  # a stack: carries its frozen adapter
    from_stage = adaptx.load(run_dir, stage=XNLI_STACK, device="cpu").predict(rows)
    entry = adaptx.load("zoo:xnli-stack", zoo=root, device="cpu")
    assert (entry.stage, entry.task) == (None, "xnli") and entry.predict(rows) == from_stage
    assert adaptx.load(root / "xnli-stack", device="cpu").predict(rows) == from_stage  # the entry's folder
    # an intermediate adapter's entry predicts its own task with its own head
    zoo.add_entry(root, stage_folder(run_dir, "intermediate-adapter-commonsenseqa-s0"), "csqa")
    mc = [{"question": "what sat", "choices": ["yes cat", "no dog", "no sea", "no hat", "no mat"]}]
    assert adaptx.load("zoo:csqa", zoo=root).predict(mc) == adaptx.load(
        run_dir, stage="intermediate-adapter-commonsenseqa-s0").predict(mc)
    with pytest.raises(AdaptxError, match=r"--stage picks a stage of a run folder; zoo:csqa is a zoo entry already"):
        adaptx.load("zoo:csqa", stage="x", zoo=root)
    with pytest.raises(AdaptxError, match=r"no zoo entry 'nope'"):
        adaptx.load("zoo:nope", zoo=root)


def test_a_base_model_with_other_weights_is_refused(run, tmp_path, tiny_model_dir):
    """The model only fits the exact weights it was trained on (a moved or replaced base folder)."""
    from safetensors.torch import load_file, save_file

    run_dir, _, _ = run
    other = tmp_path / "other"
    shutil.copytree(tiny_model_dir, other)
    weights = load_file(str(other / "model.safetensors"))
    name = next(iter(weights))
    weights[name] = weights[name] + 1
    save_file(weights, str(other / "model.safetensors"))
    with pytest.raises(AdaptxError, match=r"was trained on other weights than base model .*; pass base= \(--base\)"):
        adaptx.load(run_dir, stage=XNLI_STACK, base=str(other))
    assert adaptx.load(run_dir, stage=XNLI_STACK, base=str(tiny_model_dir)).task == "xnli"  # the same weights


def test_import_adaptx_stays_light_and_load_is_lazy():
    code = ("import sys, adaptx; assert 'torch' not in sys.modules, 'import adaptx loaded torch'; "
            "assert callable(adaptx.load) and adaptx.Predictor.__name__ == 'Predictor'; "
            "assert 'adaptx.predict' in sys.modules and 'load' in dir(adaptx)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        adaptx.nothing  # noqa: B018


def test_only_the_kinds_with_a_prediction_head_read_input_rows():
    task = get_task("tatoeba")
    assert get_kind("retrieval").input_fields(task) == ""
    with pytest.raises(AdaptxError, match=r"tatoeba is a retrieval task: it has no prediction head"):
        get_kind("retrieval").example_from_row(task, {"text": "x"}, "row 1")
    for name in ("xnli", "udpos", "xquad", "commonsenseqa", "sst2"):
        assert get_kind(get_task(name).kind).input_fields(get_task(name))
    assert get_kind("classification").input_fields(get_task("sst2")) == "sentence (or text)"


@pytest.mark.integration
def test_a_shipped_zoo_adapter_predicts_three_sentences_of_ones_own(embedded_dir):
    """The first hour: the shipped SST-2 adapter on the embedded base, three sentences, no data folder."""
    root = Path(__file__).resolve().parents[1] / "adapter_zoo"
    predictor = adaptx.load("zoo:sst2-e5small-s0", zoo=root, device="cpu")
    records = predictor.predict(["A wonderful, moving film.", "Dull, boring and far too long.",
                                 "I loved every minute of it."])
    assert [r["label"] for r in records] == ["positive", "negative", "positive"]
    assert all(0.5 < r["score"] <= 1 and set(r["probabilities"]) == {"negative", "positive"} for r in records)


def test_a_bad_row_in_a_file_fails_before_the_model_loads(run, tmp_path, capsys, monkeypatch):
    """Fields are checked against the task first: no minute-long model load before a typo is reported."""
    from adaptx import predict as predict_module

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the rows were checked")

    monkeypatch.setattr(predict_module, "load_saved", no_model)
    path = tmp_path / "rows.jsonl"
    path.write_text('{"premise": "a", "hypothesis": "b"}\n{"sentence": "a single sentence"}\n')
    assert cli.main(["predict", str(run[0]), "--stage", XNLI_STACK, "--input", str(path)]) == 1
    err = capsys.readouterr().err
    assert "rows.jsonl, line 2: xnli classifies sentence pairs" in err and "loaded before" not in err


@pytest.mark.parametrize("evaluated, asked, native, expected", [
    ("bf16", None, False, "fp32"),   # an AVX2-only CPU: run's auto rule, not emulated bf16
    ("bf16", None, True, "bf16"),    # native bf16: the dtype it was evaluated in
    ("fp32", None, True, "fp32"),
    ("bf16", "bf16", False, "bf16"),  # asked for: honoured, however slow
    ("fp32", "auto", True, "bf16"),
])
def test_predict_picks_the_dtype_by_runs_rule_and_says_why(monkeypatch, evaluated, asked, native, expected):
    from adaptx import runtime
    from adaptx.predict import prediction_dtype

    monkeypatch.setattr(runtime, "bf16_support", lambda device: (native, "native bf16" if native else "no native bf16"))
    dtype, why = prediction_dtype(evaluated, asked, torch.device("cpu"))
    assert dtype == expected and why
    if evaluated != dtype and not asked:
        assert f"evaluated in {evaluated}" in why and f"--dtype {evaluated}" in why
