"""Data formats are registered (adaptx/formats/): a new intermediate task with a new file format is one
registered reader and its Task row. Here a toy format is registered from the test itself, without
editing any adaptx file, and its files (and hub rows) are read through the normal data path: load_split,
then a run's RunData (sampled, encoded, hashed) like any registry task."""

import pytest

from adaptx import pipeline
from adaptx.data import load_split
from adaptx.errors import AdaptxError
from adaptx.formats import FORMATS, DataFormat, Read, register_format
from adaptx.formats.columns import Example
from adaptx.plan import plan_stages
from adaptx.tasks import TASKS, HubSplit, LocalFile, Task, get_task
from tiny_data import write_tiny_data

TOY = "toy_pipe"  # "text|label" lines; on the hub, rows {"line": "text|label"}


def _example(task, line: str, where: str) -> Example:
    text, sep, label = line.rpartition("|")
    if not sep or label not in task.labels:
        raise AdaptxError(f"{where}: expected 'text|label' with a label in {task.labels}, found {line!r}")
    return Example(text, None, task.labels.index(label))


def read_toy_file(task, spec, path, extra) -> Read:
    lines = path.read_text(encoding="utf-8").splitlines()
    return Read([_example(task, line, f"{path}, line {i}") for i, line in enumerate(lines, start=1) if line])


def read_toy_rows(task, spec, rows, lang, where) -> Read:
    return Read([_example(task, row["line"], f"{where}, row {i}") for i, row in enumerate(rows)])


@pytest.fixture
def toy(monkeypatch):
    """The toy format, registered as a new format's module would register it, and a task that reads it."""
    register_format(DataFormat(TOY, local=read_toy_file, hub=read_toy_rows))
    task = Task(name="toy", role="intermediate", kind="classification", labels=("no", "yes"), languages=("en",),
                local={"train": LocalFile("toy/train.txt", TOY), "dev": LocalFile("toy/dev.txt", TOY)},
                hub={"train": HubSplit("someone/toy", None, "train", format=TOY),
                     "dev": HubSplit("someone/toy", None, "validation", format=TOY)},
                license={"train": "toy: CC0", "dev": "toy: CC0"}, description="a toy task in a toy format")
    monkeypatch.setitem(TASKS, "toy", task)
    yield task
    del FORMATS[TOY]


def _write_toy(root, n=12):
    (root / "toy").mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        lines = [f"{split} sentence number {i}|{'yes' if i % 3 else 'no'}" for i in range(n)]
        (root / "toy" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_a_registered_format_reads_local_files_through_load_split(toy, tmp_path):
    data = _write_toy(tmp_path)
    train = load_split(toy, "train", "en", "local", data)
    assert train.examples[1] == Example("train sentence number 1", None, 1)
    assert len(train.examples) == 12 and train.origin == str(data / "toy" / "train.txt")
    (data / "toy" / "dev.txt").write_text("a line without a label\n")
    with pytest.raises(AdaptxError, match=r"dev.txt, line 1: expected 'text\|label'"):
        load_split(toy, "dev", "en", "local", data)


def test_a_registered_format_reads_hub_rows(toy, monkeypatch):
    import datasets

    rows = datasets.Dataset.from_dict({"line": ["fine|yes", "bad|no"]})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: rows)
    loaded = load_split(toy, "train", "en", "hub")
    assert [e.label for e in loaded.examples] == [1, 0] and loaded.origin == "someone/toy (None, train)"


def test_a_task_in_a_registered_format_trains_in_a_run(toy, tiny_model_dir, tmp_path):
    """The normal path of a run: the config names the task, RunData reads, samples and encodes its
    rows, and its stage has a recipe (the data's digest and rows) like any other."""
    data = _write_toy(write_tiny_data(tmp_path / "data"))
    cfg = pipeline.load_config(None, [f"base_model={tiny_model_dir}", "intermediate_tasks=[toy]",
                                      "strategies=[stack]", "languages=[en]", "max_seq_length=32",
                                      "train.batch_size=4"])
    experiment = pipeline.Experiment(cfg, tmp_path / "run", str(data))
    stages = plan_stages(cfg)
    experiment.prepare(stages)
    encoded = experiment.data("toy", "train")
    assert len(encoded) == 12 and encoded.examples[1].text_a == "train sentence number 1"
    assert experiment.data_recipe("toy", "dev")["n"] == 12
    stage = next(s for s in stages if s.task == "toy")
    assert experiment.recipes.recipe(stage)["data"]["train"]["content"]  # hashed like every stage


def test_the_registry_refuses_a_second_format_of_a_name_and_a_format_without_readers():
    with pytest.raises(ValueError, match="already registered"):
        register_format(DataFormat("tsv", local=read_toy_file))
    with pytest.raises(ValueError, match="neither a local nor a hub reader"):
        register_format(DataFormat("nothing"))
    assert "nothing" not in FORMATS


def test_an_unknown_format_is_named(tmp_path, monkeypatch):
    import dataclasses

    import datasets

    (tmp_path / "f.txt").write_text("x\n")
    task = dataclasses.replace(get_task("sst2"), local={"train": LocalFile("f.txt", "nope")},
                               hub={"train": HubSplit("someone/x", None, "train", format="nope")})
    with pytest.raises(AdaptxError, match=r"^task 'sst2': unknown local file format 'nope'$"):
        load_split(task, "train", "en", "local", tmp_path)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.Dataset.from_dict({"x": [1]}))
    with pytest.raises(AdaptxError, match=r"task 'sst2': unknown hub format 'nope' \(registered: columns, "):
        load_split(task, "train", "en", "hub")


def test_a_tasks_licence_lives_on_its_task():
    from adaptx.tasks import data_license

    assert data_license("xnli") == {"train": get_task("mnli").license["train"], "dev": "XNLI: CC BY-NC 4.0"}
    assert data_license("udpos") == {"train": "unknown", "dev": "unknown"}
