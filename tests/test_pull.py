"""`adaptx data pull` / `adaptx data verify`, offline: `datasets.load_dataset` is replaced by a
loader of datasets saved to disk in the hub's real schemas (column names, ClassLabel names,
id columns of nyu-mll/glue, facebook/xnli and google-research-datasets/paws-x), and the hub's
revision lookup by a fixed answer. Covers the written layout (read back by the local loader
and compared with `data.source: hub`), the manifest, verify, a full pull -> verify -> run round
trip, and every refusal: unknown task, renamed column, reordered labels, no network,
interrupted downloads and renames, a folder with other files."""

import json
import os
import random
import time
from types import SimpleNamespace

import datasets
import huggingface_hub
import pytest
import yaml
from datasets import ClassLabel, Features, Value

from adaptx import pull
from adaptx.cli import build_parser, main
from adaptx.data import Example, load_split
from adaptx.data_manifest import INCOMPLETE, MANIFEST, STAGING, verify_folder
from adaptx.errors import AdaptxError
from adaptx.tasks import PAWSX_LANGUAGES, XNLI_LANGUAGES, get_task

NLI = ["entailment", "neutral", "contradiction"]
TEXT = Value("string")
WORDS = ["the", "cat", "sat", "on", "a", "mat", "café", "naïve", '"quoted"', "中文", "it's"]
REVISIONS = {"nyu-mll/glue": "a" * 40, "facebook/xnli": "b" * 40, "google-research-datasets/paws-x": "c" * 40,
             "stanfordnlp/snli": "d" * 40, "facebook/anli": "e" * 40}
ROWS = 12


def hub_schemas():
    """(dataset, config) -> (features, splits), as the real hub datasets have them."""
    glue_idx = {"idx": Value("int32")}
    schemas = {
        ("nyu-mll/glue", "mnli"): ({"premise": TEXT, "hypothesis": TEXT, "label": ClassLabel(names=NLI), **glue_idx},
                                   ["train", "validation_matched"]),
        ("nyu-mll/glue", "qqp"): ({"question1": TEXT, "question2": TEXT,
                                   "label": ClassLabel(names=["not_duplicate", "duplicate"]), **glue_idx},
                                  ["train", "validation"]),
        ("nyu-mll/glue", "sst2"): ({"sentence": TEXT, "label": ClassLabel(names=["negative", "positive"]), **glue_idx},
                                   ["train", "validation"]),
    }
    schemas[("stanfordnlp/snli", None)] = ({"premise": TEXT, "hypothesis": TEXT, "label": ClassLabel(names=NLI)},
                                           ["train", "validation"])
    schemas[("facebook/anli", None)] = ({"uid": TEXT, "premise": TEXT, "hypothesis": TEXT,
                                         "label": ClassLabel(names=NLI), "reason": TEXT},
                                        [f"{split}_r{r}" for split in ("train", "dev") for r in (1, 2, 3)])
    for lang in XNLI_LANGUAGES:
        schemas[("facebook/xnli", lang)] = ({"premise": TEXT, "hypothesis": TEXT, "label": ClassLabel(names=NLI)},
                                            ["validation", "test"])
    for lang in PAWSX_LANGUAGES:
        schemas[("google-research-datasets/paws-x", lang)] = (
            {"id": Value("int32"), "sentence1": TEXT, "sentence2": TEXT, "label": ClassLabel(names=["0", "1"])},
            ["train", "validation", "test"])
    return schemas


def sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))


def make_split(dataset, config, split, features):
    """ROWS rows; translations share their labels (row-aligned like XNLI and PAWS-X); some rows
    carry what real data holds: a tab and a line break in XNLI ar test and ANLI text, and the hub's
    unlabeled marker -1 in PAWS-X's English and SNLI's train sets."""
    rng = random.Random(f"{dataset}/{config}/{split}")
    label_rng = random.Random(f"{dataset}/{split}")
    names = features["label"].names
    data = {name: [] for name in features}
    for i in range(ROWS):
        label = label_rng.randrange(len(names))
        for name, feature in features.items():
            if name == "label":
                data[name].append(label)
            elif name in ("idx", "id"):
                data[name].append(i + 1000)
            elif name in ("uid", "reason"):
                data[name].append(f"{name}-{i}")
            else:
                data[name].append(f"{config} {sentence(rng)}")
    if (dataset, config, split) in (("facebook/xnli", "ar", "test"), ("facebook/anli", None, "train_r2")):
        data["premise"][3] = "a tab\there and a\nline break"  # JSON keeps them; a TSV cannot
    unlabeled = (("google-research-datasets/paws-x", "en", "train"), ("stanfordnlp/snli", None, "train"))
    if (dataset, config, split) in unlabeled:
        data["label"][5] = -1
    return datasets.Dataset.from_dict(data, features=Features(features))


@pytest.fixture(scope="session")
def hub_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    for (dataset, config), (features, splits) in hub_schemas().items():
        for split in splits:
            make_split(dataset, config, split, features).save_to_disk(str(root / dataset / str(config) / split))
    return root


class FakeHub:
    """`datasets.load_dataset` for the saved datasets; `replace` swaps in another dataset and
    `fail_at` makes the n-th call raise, as a dropped connection or Ctrl-C would."""

    def __init__(self, root):
        self.root, self.calls, self.replaced, self.fail_at = root, [], {}, None

    def load_dataset(self, path, name=None, split=None, revision=None, **kwargs):
        self.calls.append((path, name, split, revision))
        if self.fail_at and len(self.calls) == self.fail_at[0]:
            raise self.fail_at[1]
        if (path, name, split) in self.replaced:
            return self.replaced[(path, name, split)]
        folder = self.root / path / str(name) / str(split)  # config None is saved as "None"
        if not folder.is_dir():
            raise FileNotFoundError(f"no {path} {name} {split}")
        return datasets.load_from_disk(str(folder))

    def replace(self, dataset, config, split, ds):
        self.replaced[(dataset, config, split)] = ds

    def hub_rows(self, dataset, config, split):
        return datasets.load_from_disk(str(self.root / dataset / str(config) / split))


@pytest.fixture
def hub(hub_root, monkeypatch, adaptx_home):
    fake = FakeHub(hub_root)
    monkeypatch.setattr(datasets, "load_dataset", fake.load_dataset)
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info",
                        lambda self, repo_id, **kwargs: SimpleNamespace(sha=REVISIONS[repo_id]))
    return fake


def quiet(*_args):
    pass


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- the written layout --------------------------------------------------------------------

def test_pulled_files_read_as_the_hub_reads(hub, tmp_path):
    out = tmp_path / "data"
    pull.pull_tasks(["xnli", "qqp", "sst2", "pawsx"], out, log=quiet)
    manifest = json.loads((out / MANIFEST).read_text())
    plan = pull.plan_files([get_task(t) for t in ("xnli", "qqp", "sst2", "pawsx")])
    assert sorted(manifest["files"]) == sorted(plan)
    # every split a run reads from this folder equals what data.source: hub gives, row for row
    for task_name in ("xnli", "qqp", "sst2", "pawsx"):
        task = get_task(task_name)
        for split in ("train", "dev", "eval-dev", "eval-test"):
            for lang in task.languages if split.startswith("eval") else ["en"]:
                if task.spec("local", split, lang) is None:
                    continue
                local = load_split(task, split, lang, "local", out).examples
                if (task_name, split, lang) != ("xnli", "eval-test", "ar"):  # (its tab: below)
                    assert local == load_split(task, split, lang, "hub").examples, (task_name, split, lang)
    # the two rows real data has: a tab/line break becomes a space in a TSV; -1 (no label) is left out
    ar = load_split(get_task("xnli"), "eval-test", "ar", "local", out).examples
    assert ar[3].text_a == "a tab here and a line break" and len(ar) == ROWS
    paws_train = load_split(get_task("pawsx"), "train", "en", "local", out).examples
    assert len(paws_train) == ROWS - 1
    entry = manifest["files"]["paws_en/paws_wiki_final_test.tsv"]
    assert entry["rows"] == ROWS - 1 and entry["source"]["unlabeled_rows_left_out"] == 1
    assert manifest["files"]["xnli/test-ar.tsv"]["source"]["text_fields_cleaned"] == 1
    # PAWS-Wiki's layout: the hub's id in the first column, labels PAWS-X's 0/1 meaning different/paraphrase
    first = (out / "paws_en/paws_wiki_final_test.tsv").read_text().splitlines()[0].split("\t")
    hub_first = hub.hub_rows("google-research-datasets/paws-x", "en", "train")[0]
    assert first == [str(hub_first["id"]), hub_first["sentence1"], hub_first["sentence2"],
                     get_task("pawsx").labels[hub_first["label"]]]
    source = manifest["files"]["xnli/test-de.tsv"]["source"]
    assert (source["dataset"], source["config"], source["split"], source["revision"]) == \
        ("facebook/xnli", "de", "test", REVISIONS["facebook/xnli"])
    assert source["fingerprint"] and ("facebook/xnli", "de", "test", REVISIONS["facebook/xnli"]) in hub.calls
    assert verify_folder(out).ok


def test_split_of_several_files_and_unlabeled_rows(hub, tmp_path):
    """anli+mnli+snli trains on ANLI's three rounds (JSON lines), MNLI and SNLI: each file from its
    own hub split, read back as data.source: hub reads them (SNLI's -1 rows left out by both)."""
    out = tmp_path / "data"
    pull.pull_tasks(["anli+mnli+snli"], out, log=quiet)
    task = get_task("anli+mnli+snli")
    for split in ("train", "dev"):
        local = load_split(task, split, "en", "local", out)
        assert local.examples == load_split(task, split, "en", "hub").examples
    files = json.loads((out / MANIFEST).read_text())["files"]
    assert {f"anli/R{r}/{s}.jsonl" for r in (1, 2, 3) for s in ("train", "dev")} <= set(files)
    assert files["anli/R2/dev.jsonl"]["source"]["split"] == "dev_r2"
    assert files["snli/ppft_train_subset.json"]["source"]["unlabeled_rows_left_out"] == 1
    train = load_split(task, "train", "en", "local", out).examples
    assert len(train) == 5 * ROWS - 1 and train[ROWS + 3].text_a == "a tab\there and a\nline break"


def test_tasks_of_other_kinds_are_refused_before_anything_happens(hub, tmp_path):
    with pytest.raises(AdaptxError, match=r"writes classification tasks only \(.*xnli\); udpos cannot be pulled"):
        pull.pull_tasks(["xnli", "udpos"], tmp_path / "data", log=quiet)
    assert not (tmp_path / "data").exists() and hub.calls == []


def test_max_rows_takes_each_splits_first_rows_and_keeps_translations_aligned(hub, tmp_path):
    out = tmp_path / "data"
    pull.pull_tasks(["xnli"], out, max_rows=5, log=quiet)
    de = load_split(get_task("xnli"), "eval-dev", "de", "local", out).examples
    sw = load_split(get_task("xnli"), "eval-dev", "sw", "local", out).examples
    hub_de = hub.hub_rows("facebook/xnli", "de", "validation")
    assert [e.text_a for e in de] == hub_de["premise"][:5]
    assert [e.label for e in de] == [e.label for e in sw] == hub_de["label"][:5]
    manifest = json.loads((out / MANIFEST).read_text())
    assert {e["rows"] for e in manifest["files"].values()} == {5} and manifest["pulls"][-1]["max_rows"] == 5


def test_pull_verify_run_round_trip_on_a_tiny_model(hub, tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "data"
    assert main(["data", "pull", "qqp", "xnli", "--out", str(out), "--max-rows", "20"]) == 0
    assert main(["data", "verify", str(out)]) == 0
    assert "all match" in capsys.readouterr().out
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"], "target_task": "xnli",
        "languages": ["en", "de", "sw"], "strategies": ["none", "stack"], "max_seq_length": 16,
        "train": {"intermediate_steps": 2, "target_steps": 3, "batch_size": 4},
        "data": {"max_eval_examples": 6, "max_dev_examples": 6},
    }))
    run = tmp_path / "run"
    assert main(["run", str(config), "--data-dir", str(out), "--out", str(run)]) == 0
    records = json.loads((run / "results.json").read_text())
    assert {(r["strategy"], r["language"]) for r in records} == {(s, lang) for s in ("none", "stack")
                                                                for lang in ("en", "de", "sw")}
    evaluated = json.loads((run / records[0]["predictions"]).read_text())
    (lang, rows), = evaluated.items()
    hub_labels = hub.hub_rows("facebook/xnli", lang, "test")["label"]
    assert rows["gold"] == [hub_labels[i] for i in rows["ids"]]  # scored against the hub's labels
    stage = next((run / "stages").glob("intermediate-adapter-qqp-s0-*"))
    assert json.loads((stage / "metrics.json").read_text())["data"]["train"] == str(out / "qqp/ppft_train_subset.json")


def test_a_second_pull_into_the_folder_adds_to_it(hub, tmp_path):
    out = tmp_path / "data"
    pull.pull_tasks(["qqp"], out, log=quiet)
    pull.pull_tasks(["sst2"], out, max_rows=4, log=quiet)
    manifest = json.loads((out / MANIFEST).read_text())
    assert {"qqp/ppft_train_subset.json", "sst2/alps_train.tsv"} <= set(manifest["files"])
    assert [p["tasks"] for p in manifest["pulls"]] == [["qqp"], ["sst2"]]
    assert verify_folder(out).ok


# -- verify --------------------------------------------------------------------------------

def test_verify_names_missing_changed_and_extra_files(hub, tmp_path, capsys):
    out = tmp_path / "data"
    pull.pull_tasks(["qqp"], out, log=quiet)
    (out / "qqp/ppft_dev_subset.json").unlink()
    train = out / "qqp/ppft_train_subset.json"
    train.write_text(train.read_text().replace("qqp", "QQP", 1))
    (out / "qqp/notes.txt").write_text("mine")
    check = verify_folder(out)
    assert (check.missing, check.changed, check.extra) == (["qqp/ppft_dev_subset.json"],
                                                          ["qqp/ppft_train_subset.json"], ["qqp/notes.txt"])
    assert main(["data", "verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "missing: qqp/ppft_dev_subset.json" in err and "changed: qqp/ppft_train_subset.json" in err
    assert "extra: qqp/notes.txt" in err


def test_verify_refuses_a_folder_without_manifest(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    assert main(["data", "verify", str(tmp_path / "d")]) == 1
    assert f"has no {MANIFEST}" in capsys.readouterr().err


# -- refusals ------------------------------------------------------------------------------

def test_unknown_task_and_bad_max_rows_touch_nothing(hub, tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["data", "pull", "qqp", "xnly", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "unknown task 'xnly'; known tasks: " in err and " xnli" in err
    assert main(["data", "pull", "qqp", "--out", str(out), "--max-rows", "0"]) == 1
    assert "--max-rows must be >= 1" in capsys.readouterr().err
    assert not out.exists() and hub.calls == []


def test_renamed_column_is_a_schema_error_and_writes_nothing(hub, tmp_path):
    features, _ = hub_schemas()[("facebook/xnli", "de")]
    renamed = make_split("facebook/xnli", "de", "test", features).rename_column("premise", "sentence_a")
    hub.replace("facebook/xnli", "de", "test", renamed)
    out = tmp_path / "data"
    with pytest.raises(AdaptxError, match=r"facebook/xnli \(de, test\): expected columns \['premise', 'hypothesis', "
                                          r"'label'\] .* \['premise'\] are missing; found \['sentence_a'"):
        pull.pull_tasks(["xnli"], out, log=quiet)
    assert not out.exists()


def test_reordered_label_names_are_refused(hub, tmp_path):
    features, _ = hub_schemas()[("nyu-mll/glue", "qqp")]
    ds = make_split("nyu-mll/glue", "qqp", "validation", features)
    ds = ds.cast_column("label", ClassLabel(names=["duplicate", "not_duplicate"]))
    hub.replace("nyu-mll/glue", "qqp", "validation", ds)
    with pytest.raises(AdaptxError, match=r"label names \['duplicate', 'not_duplicate'\] differ from qqp's"):
        pull.pull_tasks(["qqp"], tmp_path / "data", log=quiet)


def test_no_network_fails_fast_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # the real client, refusing the network

    def no_download(*args, **kwargs):
        raise AssertionError("load_dataset must not be reached without the hub")

    monkeypatch.setattr(datasets, "load_dataset", no_download)
    out = tmp_path / "data"
    started = time.perf_counter()
    assert main(["data", "pull", "xnli", "--out", str(out)]) == 1
    assert time.perf_counter() - started < 10
    err = capsys.readouterr().err
    assert "cannot reach the Hugging Face hub (for facebook/xnli); nothing was written" in err
    assert "OfflineModeIsEnabled" in err and not out.exists()


def test_folder_with_other_files_is_refused_untouched(hub, tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "xnli").mkdir(parents=True)
    (out / "xnli" / "test-de.tsv").write_text("my own file\n")
    (out / "notes.txt").write_text("keep")
    before = snapshot(out)
    assert main(["data", "pull", "xnli", "--out", str(out)]) == 1
    assert "holds files that no `adaptx data pull` wrote (notes.txt, xnli/test-de.tsv); nothing was changed" in \
        capsys.readouterr().err
    assert snapshot(out) == before and hub.calls == []


def test_a_pulled_file_edited_by_hand_is_not_overwritten(hub, tmp_path):
    out = tmp_path / "data"
    pull.pull_tasks(["qqp"], out, log=quiet)
    (out / "qqp/ppft_dev_subset.json").write_text("{}")
    before = snapshot(out)
    with pytest.raises(AdaptxError, match=r"files changed since `adaptx data pull` wrote them \(qqp/ppft_dev_subset"):
        pull.pull_tasks(["qqp"], out, log=quiet)
    assert snapshot(out) == before


@pytest.mark.parametrize("failure", [ConnectionError("connection reset by peer"), KeyboardInterrupt()])
def test_interrupted_download_leaves_the_folder_as_it_was(hub, tmp_path, failure):
    out = tmp_path / "data"
    pull.pull_tasks(["qqp"], out, log=quiet)
    before = snapshot(out)
    hub.calls.clear()
    hub.fail_at = (5, failure)  # the 5th of xnli's 31 files
    with pytest.raises(AdaptxError if isinstance(failure, Exception) else KeyboardInterrupt):
        pull.pull_tasks(["xnli"], out, log=quiet)
    assert snapshot(out) == before  # no partial files, no staging folder, the old manifest still right
    assert verify_folder(out).ok
    hub.fail_at = None
    pull.pull_tasks(["xnli"], out, log=quiet)  # a rerun completes
    assert verify_folder(out).ok and "xnli/test-zh.tsv" in json.loads((out / MANIFEST).read_text())["files"]


def test_interrupted_pull_of_a_new_folder_leaves_no_folder(hub, tmp_path, capsys):
    hub.fail_at = (3, KeyboardInterrupt())
    out = tmp_path / "new"
    assert main(["data", "pull", "xnli", "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err and not out.exists()


def test_crash_while_moving_files_is_recognised_and_a_rerun_repairs_it(hub, tmp_path, monkeypatch):
    out = tmp_path / "data"
    real_replace, moved = os.replace, []

    def replace_then_crash(src, dst):  # the 3rd move from the staging folder into place dies
        into_place = STAGING in str(src) and STAGING not in str(dst)
        if into_place and len(moved) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)
        if into_place:
            moved.append(dst)

    monkeypatch.setattr(pull.os, "replace", replace_then_crash)
    with pytest.raises(KeyboardInterrupt):
        pull.pull_tasks(["qqp", "sst2"], out, log=quiet)
    assert (out / INCOMPLETE).is_file() and not (out / MANIFEST).exists()
    with pytest.raises(AdaptxError, match="was interrupted while moving files into place"):
        verify_folder(out)
    monkeypatch.setattr(pull.os, "replace", real_replace)
    pull.pull_tasks(["qqp", "sst2"], out, log=quiet)  # its own half-moved files are not "other files"
    assert verify_folder(out).ok and not (out / INCOMPLETE).exists()


def test_every_data_command_is_wired_to_a_function():
    parser = build_parser()
    for argv in (["data", "pull", "qqp", "--out", "d"], ["data", "verify", "d"]):
        args, _ = parser.parse_known_args(argv)
        assert callable(args.func), argv


def test_examples_written_as_json_keep_unicode_and_quotes(hub, tmp_path):
    out = tmp_path / "data"
    pull.pull_tasks(["mnli"], out, log=quiet)
    train = load_split(get_task("mnli"), "train", "en", "local", out).examples
    hub_rows = hub.hub_rows("nyu-mll/glue", "mnli", "train")
    assert train == [Example(r["premise"], r["hypothesis"], r["label"]) for r in hub_rows]
    assert any("café" in e.text_a or "中文" in e.text_a for e in train)
