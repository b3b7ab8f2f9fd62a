"""The paper's English intermediate tasks: each loader on small files in its official format (and the
hub schemas, monkeypatched), bad input named by file and line, the seeded train/dev split of
dev-only local files, the real slices in ../shared/data, and intermediate stages of every kind
(classification, tagging, QA, multiple choice) trained and stacked under a target on a tiny model."""

import bz2
import json
import math

import pytest
import yaml

from adaptx import pipeline
from adaptx.data import holdout, load_split
from adaptx.errors import AdaptxError
from adaptx.intermediate_readers import (read_ccg, read_commonsenseqa, read_cosmosqa, read_hellaswag_txt,
                                         read_tag_set)
from adaptx.tasks import get_task
from tiny_data import write_tiny_data, write_tiny_pawsx
from tiny_intermediate import CATEGORIES, auto_text, ccg_sentences, stagged_text, write_tiny_intermediate


@pytest.fixture
def data(tmp_path):
    return write_tiny_intermediate(write_tiny_data(tmp_path / "data"))


def load(task, split, data_dir, source="local"):
    return load_split(get_task(task), split, "en", source, data_dir)


# -- NLI: ANLI (as released), ANLI + MNLI + SNLI, SNLI ---------------------------------------------

def test_anli_reads_the_three_released_rounds_in_order(data):
    train = load("anli", "train", data)
    assert len(train.examples) == 3 * 12 and "anli/R1/train.jsonl + " in train.origin and "R3" in train.origin
    first = json.loads((data / "anli" / "R1" / "train.jsonl").read_text().splitlines()[0])
    assert train.examples[0].text_a == first["context"] and train.examples[0].text_b == first["hypothesis"]
    assert train.examples[0].label == "enc".index(first["label"])  # e/n/c -> entailment/neutral/contradiction
    assert len(train.digest.split("+")) == 3


def test_anli_accepts_premise_where_a_file_names_it_so_and_names_a_bad_label(data):
    path = data / "anli" / "R2" / "dev.jsonl"
    path.write_text(json.dumps({"uid": "x", "premise": "a cat", "hypothesis": "an animal", "label": "e"}) + "\n")
    assert load("anli", "dev", data).examples[12].text_a == "a cat"
    path.write_text(json.dumps({"uid": "x", "premise": "a", "hypothesis": "b", "label": "x"}) + "\n")
    with pytest.raises(AdaptxError, match=r"R2/dev.jsonl, line 1: label 'x' is not in anli's label set "
                                          r".*or 'e', 'n', 'c'"):
        load("anli", "dev", data)


def test_anli_with_mnli_and_snli_concatenates_the_training_data_and_selects_on_anli(data):
    combined = load("anli+mnli+snli", "train", data)
    parts = [load("anli", "train", data), load("mnli", "train", data), load("snli", "train", data)]
    assert combined.examples == [e for p in parts for e in p.examples]
    assert load("anli+mnli+snli", "dev", data).examples == load("anli", "dev", data).examples


def test_hub_anli_rounds_and_snli_rows_without_gold_label(monkeypatch):
    import datasets

    features = datasets.Features({"uid": datasets.Value("string"), "premise": datasets.Value("string"),
                                  "hypothesis": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])})
    calls = []

    def load_dataset(name, config=None, split=None, **_):
        calls.append((name, config, split))
        if name == "facebook/anli":
            r = split[-1]
            return datasets.Dataset.from_dict({"uid": [f"{r}a", f"{r}b"], "premise": [f"p{r}", f"q{r}"],
                                               "hypothesis": ["h", "h"], "label": [0, 2]}, features=features)
        return datasets.Dataset.from_dict({"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"],
                                           "label": [1, -1, 2]},  # SNLI marks pairs without agreement -1
                                          features=datasets.Features({k: features[k] for k in
                                                                      ("premise", "hypothesis", "label")}))

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    anli = load("anli", "train", None, "hub")
    assert [e.text_a for e in anli.examples] == ["p1", "q1", "p2", "q2", "p3", "q3"]
    assert [c[2] for c in calls] == ["train_r1", "train_r2", "train_r3"]
    snli = load("snli", "dev", None, "hub")
    assert [e.label for e in snli.examples] == [1, 2] and snli.skipped == {
        "rows without a gold label (-1) left out": 1}


# -- SST-2: one text column -----------------------------------------------------------------------

def test_an_sst2_file_with_a_second_text_column_is_an_error(data):
    path = data / "sst2" / "alps_train.tsv"
    path.write_text("sentence\tsentence2\tlabel\na good film\tanother\t1\n")
    with pytest.raises(AdaptxError, match=r"alps_train.tsv, line 1: header has column\(s\) \['sentence2'\] .*"
                                          r"single-sentence task"):
        load("sst2", "train", data)
    path.write_text("sentence\tlabel\na good film\t1\na stray\ttab\t0\n")
    with pytest.raises(AdaptxError, match=r"alps_train.tsv, line 3: 3 tab-separated fields, but the header"):
        load("sst2", "train", data)


# -- CCG supertagging -----------------------------------------------------------------------------

def test_ccg_reads_cc_stagged_lines_and_ccgbank_auto_trees_alike(tmp_path):
    import random

    sentences = ccg_sentences(random.Random(3), 4)
    (tmp_path / "a.stagged").write_text(stagged_text(sentences))
    (tmp_path / "a.auto").write_text(auto_text(sentences))
    stagged, auto = read_ccg(tmp_path / "a.stagged", CATEGORIES), read_ccg(tmp_path / "a.auto", CATEGORIES)
    assert [s.words for s in stagged] == [s.words for s in auto] == sentences
    assert [s.tags for s in stagged] == [s.tags for s in auto]
    assert stagged[0].tags[2] == r"S[dcl]\NP" and stagged[0].tags[3] == r"((S\NP)\(S\NP))/NP"


def test_ccg_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.stagged"
    path.write_text("the|DT|NP[nb]/N cat|NN|N\nthe|DT|NP[nb]/N cat|NN|S[wq]/N\n")
    with pytest.raises(AdaptxError, match=r"bad.stagged, line 2: tag 'S\[wq\]/N' is not in the label set"):
        read_ccg(path, CATEGORIES)
    path.write_text("the|DT|NP[nb]/N cat-N\n")
    with pytest.raises(AdaptxError, match=r"line 1: token 'cat-N' is not 'word\|POS\|category'"):
        read_ccg(path, CATEGORIES)
    (tmp_path / "cats").write_text("N\nNP\nN\n")
    with pytest.raises(AdaptxError, match=r"cats, line 3: tag 'N' is listed twice \(first on line 1\)"):
        read_tag_set(tmp_path / "cats")


def test_ccg_label_set_comes_from_the_categories_file(data, tiny_model_dir, tmp_path):
    cfg = pipeline.load_config(None, [f"base_model={tiny_model_dir}", "intermediate_tasks=[ccg]",
                                      "strategies=[stack]", "languages=[en]", "max_seq_length=32"])
    experiment = pipeline.Experiment(cfg, tmp_path / "run", str(data))
    assert experiment.task("ccg").labels == tuple(CATEGORIES) and get_task("ccg").labels == ()
    assert load("ccg", "train", data).origin.endswith("ccg/wsj02-21.stagged + " + str(data / "ccg" / "categories"))


# -- multiple choice ------------------------------------------------------------------------------

def test_commonsenseqa_hf_export_and_official_jsonl(tmp_path):
    path = tmp_path / "csqa.jsonl"
    hf = {"id": "a", "question": "where?", "choices": {"label": list("ABCDE"), "text": list("vwxyz")},
          "answerKey": "C"}
    official = {"id": "b", "answerKey": "E", "question": {"question_concept": "c", "stem": "what?", "choices": [
        {"label": k, "text": t} for k, t in zip("ABCDE", ["p", "q", "r", "s", "t"])]}}
    path.write_text(json.dumps(hf) + "\n\n" + json.dumps(official) + "\n")
    a, b = read_commonsenseqa(path)
    assert (a.context, a.choices, a.label) == ("where?", tuple("vwxyz"), 2)
    assert (b.context, b.choices, b.label, b.question) == ("what?", tuple("pqrst"), 4, "")
    path.write_text(json.dumps({**hf, "choices": {"label": list("ABCD"), "text": list("vwxy")}, "answerKey": "A"}))
    with pytest.raises(AdaptxError, match=r"csqa.jsonl, line 1: 4 answer choices; this task has exactly 5"):
        read_commonsenseqa(path)
    path.write_text(json.dumps(hf) + "\n" + json.dumps({**hf, "answerKey": "F"}) + "\n")
    with pytest.raises(AdaptxError, match=r"csqa.jsonl, line 2: answerKey 'F' is not one of the choice labels"):
        read_commonsenseqa(path)


def test_cosmosqa_quoted_csv_and_its_errors(data, tmp_path):
    items = read_cosmosqa(data / "cosmosqa" / "valid.csv")
    assert len(items) == 48 and "\n" in items[1].context and "," in items[1].context
    assert items[1].question and len(items[1].choices) == 4 and items[1].choices[items[1].label].startswith("yes")
    header = "id,context,question,answer0,answer1,answer2,answer3,label\n"
    bad = tmp_path / "valid.csv"
    bad.write_text(header + 'a,"two\nlines",q,w,x,y,z,0\nb,c,q,w,x,y,z,4\n')
    with pytest.raises(AdaptxError, match=r"valid.csv, line 4: label 4 is out of range; expected 0..3"):
        read_cosmosqa(bad)
    bad.write_text(header + "a,c,q,w,x,y,0\n")
    with pytest.raises(AdaptxError, match=r"valid.csv, line 2: 7 fields, the header has 8"):
        read_cosmosqa(bad)


def test_hellaswag_six_lines_per_item_bz2_and_its_errors(data, tmp_path):
    items = read_hellaswag_txt(data / "hellaswag" / "hellaswag_val_full.txt.bz2")
    assert len(items) == 48 and items[0].context.startswith("Toy activity: ") and len(items[0].choices) == 4
    good = bz2.compress(b"ctx one\n2\na\nb\nc\nd\nctx two\n0\ne\nf\ng\nh\n")
    path = tmp_path / "h.txt.bz2"
    path.write_bytes(good[:-12])  # cut off: the stream ends without its end-of-stream marker
    with pytest.raises(AdaptxError, match=r"h.txt.bz2: the bz2 stream ends early, after line \d+ .*truncated"):
        read_hellaswag_txt(path)
    # an ending missing in the first item shifts the next one: its label line holds an ending
    path.write_bytes(bz2.compress(b"ctx one\n2\na\nb\nc\nctx two\n0\ne\nf\ng\nh\nctx three\n1\ni\nj\nk\nl\n"))
    with pytest.raises(AdaptxError, match=r"h.txt.bz2, line 8: expected the index of the right ending \(0-3\) of "
                                          r"the item starting on line 7, found 'e'"):
        read_hellaswag_txt(path)
    path.write_bytes(bz2.compress(b"ctx one\n2\na\nb\nc\nd\nctx two\n0\ne\n"))
    with pytest.raises(AdaptxError, match=r"h.txt.bz2, line 7: the last item has 3 of its 6 lines .*cut short"):
        read_hellaswag_txt(path)
    path.write_bytes(bz2.compress(b"ctx one\n7\na\nb\nc\nd\n"))
    with pytest.raises(AdaptxError, match=r"h.txt.bz2, line 1: label 7 is out of range; expected 0..3"):
        read_hellaswag_txt(path)


def test_multiple_choice_hub_schemas(monkeypatch):
    import datasets

    rows = {
        "tau/commonsense_qa": {"id": ["a", "b"], "question": ["q1", "q2"], "question_concept": ["c", "c"],
                               "choices": [{"label": list("ABCDE"), "text": list("vwxyz")}] * 2,
                               "answerKey": ["B", ""]},  # the test split's rows carry no key
        "allenai/cosmos_qa": {"id": ["c"], "context": ["ctx"], "question": ["q"], "answer0": ["a"],
                              "answer1": ["b"], "answer2": ["c"], "answer3": ["d"], "label": [3]},
        "Rowan/hellaswag": {"ind": [4], "activity_label": ["Roof shingle removal"],
                            "ctx_a": ["A man is sitting on a roof."], "ctx_b": ["he"],
                            "ctx": ["A man is sitting on a roof. he"], "endings": [["e0", "e1", "e2", "e3"]],
                            "source_id": ["x"], "split": ["val"], "split_type": ["indomain"], "label": ["3"]},
    }
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda name, config=None, split=None, **_: datasets.Dataset.from_dict(rows[name]))
    csqa = load("commonsenseqa", "train", None, "hub")
    assert [(e.context, e.label) for e in csqa.examples] == [("q1", 1)] and csqa.skipped == {
        "unlabeled rows left out": 1}
    cosmos = load("cosmosqa", "dev", None, "hub").examples[0]
    assert (cosmos.context, cosmos.question, cosmos.choices, cosmos.label) == ("ctx", "q", tuple("abcd"), 3)
    hella = load("hellaswag", "train", None, "hub").examples[0]
    # the same context line as the local text export's
    assert hella.context == "Roof shingle removal: A man is sitting on a roof. he" and hella.label == 3


# -- SQuAD 2.0 ------------------------------------------------------------------------------------

def test_squad2_unanswerable_questions_train_towards_the_first_token(data, tiny_model_dir):
    from transformers import AutoTokenizer

    from adaptx.kinds import get_kind
    from adaptx.readers import read_squad_json

    task = get_task("squad2")
    examples = read_squad_json(data / "squad2" / "slice_dev-v2.0.json")
    assert sum(e.is_impossible for e in examples) == 8 and task.params["no_answer"] is True
    encoding = get_kind("qa").encode(task, examples, AutoTokenizer.from_pretrained(str(tiny_model_dir)), 64)
    for feature in encoding.features:
        example = examples[feature.example]
        if example.is_impossible:
            assert (feature.data["start"], feature.data["end"]) == (0, 0)
        else:
            assert feature.data["start"] > 0 and feature.data["end"] >= feature.data["start"]
    assert get_kind("qa").golds(encoding)[0] == [""]  # scored by squad_v2_f1: the empty answer is right


def test_squad2_answer_outside_its_context_is_an_error(data):
    path = data / "squad2" / "slice_dev-v2.0.json"
    squad = json.loads(path.read_text())
    squad["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] = 10_000
    path.write_text(json.dumps(squad))
    with pytest.raises(AdaptxError, match=r"slice_dev-v2.0.json, question 's1' .*answer_start 10000 is outside the "
                                          r"context"):
        load("squad2", "train", data)


def test_squad_v2_metrics_score_the_empty_answer():
    from adaptx.metrics import METRICS

    preds, golds = ["", "the cat", "", "dog"], [[""], ["cat"], ["cat"], [""]]
    assert METRICS["squad_v2_f1"].compute(preds, golds) == pytest.approx((1 + 1 + 0 + 0) / 4)
    assert METRICS["squad_v2_em"].compute(preds, golds) == pytest.approx(2 / 4)
    assert METRICS["squad_f1"].compute(preds[:1], golds[:1]) == 0.0  # SQuAD v1.1's rule, unchanged


# -- the seeded train/dev split of dev-only local files ---------------------------------------------

def test_dev_only_files_split_into_train_and_dev_by_group_deterministically(data):
    write_tiny_pawsx(data)  # PAWS-Wiki's labeled file: PAWS-X's English training data and the paws task's
    for task, group in (("squad2", "context"), ("cosmosqa", "context"), ("commonsenseqa", "id"),
                        ("hellaswag", "context"), ("paws", "text_a")):
        train, dev = load(task, "train", data), load(task, "dev", data)
        whole = len(train.examples) + len(dev.examples)
        assert {getattr(e, group) for e in train.examples}.isdisjoint(getattr(e, group) for e in dev.examples), task
        assert 0.3 * whole <= len(dev.examples) < 0.3 * whole + 4, task  # whole groups, just past 30%
        assert "train part of a seeded split by" in train.origin and train.digest.endswith(":train"), task
        assert load(task, "train", data).examples == train.examples  # the same split every time
    items = list(range(100))

    class Item:
        def __init__(self, i):
            self.key = i // 4

    examples = [Item(i) for i in items]
    parts = [holdout(examples, p, 0.3, seed, "key") for seed in (0, 1) for p in ("train", "dev")]
    assert parts[0] != parts[2] and len(parts[1]) == 32  # another seed, another split; 8 groups of 4
    with pytest.raises(AdaptxError, match="holdout part 'test'"):
        holdout(examples, "test", 0.3, 0, "key")


# -- the real slices ------------------------------------------------------------------------------

def test_real_intermediate_slices_load(shared_data):
    counts = {"snli": (8999, 1000)}
    for task, (n_train, n_dev) in counts.items():
        assert (len(load(task, "train", shared_data).examples), len(load(task, "dev", shared_data).examples)) == (
            n_train, n_dev)
    for task, total in (("commonsenseqa", 1221), ("cosmosqa", 2985), ("hellaswag", 10042), ("squad2", 706),
                        ("paws", 8000)):
        train, dev = load(task, "train", shared_data), load(task, "dev", shared_data)
        assert len(train.examples) + len(dev.examples) == total, task
    hella = read_hellaswag_txt(shared_data / "hellaswag" / "hellaswag_val_full.txt.bz2")
    assert hella[0].context == "Roof shingle removal: A man is sitting on a roof. he" and hella[0].label == 3
    assert hella[0].choices[3] == "starts pulling up roofing on a roof."
    squad = load("squad2", "train", shared_data).examples + load("squad2", "dev", shared_data).examples
    assert sum(e.is_impossible for e in squad) == 320


# -- every kind as an intermediate task, stacked under a target --------------------------------------

def test_intermediate_adapters_of_every_kind_train_save_and_stack(data, tiny_model_dir, adaptx_home, tmp_path,
                                                                   capsys):
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["anli", "ccg", "squad2", "hellaswag"],
        "target_task": "xnli", "languages": ["en", "de"], "strategies": ["stack"], "max_seq_length": 48,
        "train": {"intermediate_steps": 2, "target_steps": 2, "batch_size": 4, "checkpoint_every": 1,
                  "intermediate_epochs": {"squad2": 0.5}},  # epochs instead of steps for one task
        "data": {"max_eval_examples": 4, "max_dev_examples": 6}}))
    out = tmp_path / "run"
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    printed = capsys.readouterr().out
    stages = {p.name.rsplit("-", 1)[0]: p for p in (out / "stages").iterdir()}
    expected = {"anli": "accuracy", "ccg": "token_accuracy", "squad2": "squad_v2_f1", "hellaswag": "accuracy"}
    for task, metric in expected.items():
        folder = stages[f"intermediate-adapter-{task}-s0"]
        metrics = json.loads((folder / "metrics.json").read_text())
        setup = json.loads((folder / "model" / "setup.json").read_text())
        assert metrics["train"]["metric"] == metric and setup["kind"] == get_task(task).kind
        assert (folder / "model" / f"adapter-{setup['own_adapter']}" / "adapter.safetensors").is_file()
        assert f"target-xnli-stack-{task}-s0" in stages
    squad2 = json.loads((stages["intermediate-adapter-squad2-s0"] / "metrics.json").read_text())
    assert squad2["train"]["steps"] == math.ceil(0.5 * squad2["data"]["train_rows"] / 4) != 2
    ccg = json.loads((stages["intermediate-adapter-ccg-s0"] / "metrics.json").read_text())
    assert ccg["labels"] == CATEGORIES
    hella = json.loads((stages["intermediate-adapter-hellaswag-s0"] / "metrics.json").read_text())
    assert any("seeded split by context" in note for note in hella["notes"])  # the stage summary says so
    assert "note: locally, a slice of SQuAD 2.0's dev set" in printed
    records = json.loads((out / "results.json").read_text())
    assert {r["intermediate"] for r in records} == set(expected)


def test_ccg_reads_the_local_folder_even_when_the_run_reads_the_hub(data, tiny_model_dir, tmp_path):
    """CCGbank has no hub copy: under data.source: hub, ccg (and only ccg) reads data.dir."""
    overrides = [f"base_model={tiny_model_dir}", "intermediate_tasks=[ccg, qqp]", "strategies=[stack]",
                 "languages=[en]", "max_seq_length=32", "data.source=hub"]
    experiment = pipeline.Experiment(pipeline.load_config(None, overrides), tmp_path / "run", str(data))
    assert experiment.rundata.source_for("ccg") == "local" and experiment.rundata.source_for("qqp") == "hub"
    assert experiment.split("ccg", "train").origin.startswith(str(data / "ccg" / "wsj02-21.stagged"))
    no_folder = pipeline.Experiment(pipeline.load_config(None, overrides), tmp_path / "run", None)
    with pytest.raises(AdaptxError, match=r"task 'ccg' has no hub source .* pass --data-dir DIR or set data.dir"):
        no_folder.task("ccg")
