"""Issue 19 (part C): run folders under concurrency and hostile files.

One `adaptx run` per run folder (a second one is refused and told who holds it), a run and a
search worker never train one stage at once, checkpoint writers never share a temporary file,
weights load from safetensors only (a swapped-in pickle is refused, not loaded), run-folder JSON
nested too deeply is a message, and `adaptx report` on hand-edited files names the file and
field of every defect and still prints the rest.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import re
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml

from adaptx import pipeline
from adaptx.cli import main
from adaptx.errors import AdaptxError
from adaptx.modeling import Setup, build_model, load_model, save_model
from adaptx.models import config_fingerprint, load_base_model, load_encoder
from adaptx.stage_store import RUN_HOLDER, StageStore, hold_run_folder
from test_report import labels, write_run
from tiny_data import write_tiny_data

REPO = Path(__file__).resolve().parents[1]
NESTED = "[" * 100_000 + "]" * 100_000  # deeper than Python's JSON parser can recurse


@pytest.fixture
def tiny_run(tmp_path, tiny_model_dir, adaptx_home):
    """(config, data folder, run folder) of a one-stage run on the tiny model."""
    data = write_tiny_data(tmp_path / "data")
    config = {"base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"], "target_task": "xnli",
              "languages": ["en", "de"], "strategies": ["none"], "max_seq_length": 16,
              "train": {"intermediate_steps": 2, "target_steps": 2, "batch_size": 4, "checkpoint_every": 1},
              "data": {"max_eval_examples": 6, "max_dev_examples": 6}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, data, tmp_path / "run"


def snapshot(folder: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def child_env(adaptx_home) -> dict:
    return dict(os.environ, ADAPTX_HOME=str(adaptx_home), PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1",
                TOKENIZERS_PARALLELISM="false")


# -- one `adaptx run` per run folder -------------------------------------------------------------

GATED_RUN = textwrap.dedent("""
    # `adaptx run` through its python entry point, paused at its first training until `gate` exists
    import sys, time, pathlib
    import adaptx.pipeline as pipeline
    gate, training = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    real = pipeline.train_model
    def gated(*args, **kwargs):
        training.write_text("training")
        deadline = time.time() + 120
        while not gate.exists() and time.time() < deadline:
            time.sleep(0.05)
        return real(*args, **kwargs)
    pipeline.train_model = gated
    from adaptx.cli import main
    sys.exit(main(sys.argv[3:]))
""")


def test_second_run_on_a_folder_is_refused_with_the_holder_and_changes_nothing(tiny_run, tmp_path, adaptx_home):
    config, data, out = tiny_run
    script, gate, training = tmp_path / "gated_run.py", tmp_path / "go", tmp_path / "training"
    script.write_text(GATED_RUN)
    command = ["run", str(config), "--data-dir", str(data), "--out", str(out)]
    first = subprocess.Popen([sys.executable, str(script), str(gate), str(training), *command],
                             env=child_env(adaptx_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not training.exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert training.exists(), f"the first run never started training: {first.communicate()}"
        before = snapshot(out)
        second = subprocess.run([sys.executable, "-m", "adaptx", *command], env=child_env(adaptx_home),
                                capture_output=True, text=True, timeout=240)
        assert second.returncode == 1
        assert (f"adaptx: error: run folder {out} is in use by pid {first.pid} on host {socket.gethostname()} since "
                in second.stderr)
        assert "wait for it to finish or use another --out" in second.stderr and "Traceback" not in second.stderr
        assert snapshot(out) == before  # the refused run touched nothing
        gate.write_text("go")
        stdout, stderr = first.communicate(timeout=300)
    finally:
        gate.write_text("go")
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr[-2000:]
    assert not list(out.rglob("*.tmp")) and not (out / RUN_HOLDER).exists()
    assert json.loads((out / "results.json").read_text()) and main(["report", str(out)]) == 0
    # the folder is free again: a rerun finds every stage done
    pipeline.run_experiment(config, data_dir=data, out_dir=out)


HOLDER = textwrap.dedent("""
    import sys, time, pathlib
    from adaptx.stage_store import hold_run_folder
    with hold_run_folder(pathlib.Path(sys.argv[1]), "adaptx run other.yaml"):
        pathlib.Path(sys.argv[2]).write_text("held")
        time.sleep(60)
""")


def test_hold_run_folder_refuses_while_held_and_a_dead_holder_leaves_it_free(tmp_path, adaptx_home):
    out, held = tmp_path / "run", tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), str(held)], env=child_env(adaptx_home))
    try:
        deadline = time.time() + 60
        while not held.exists() and time.time() < deadline:
            time.sleep(0.05)
        with pytest.raises(AdaptxError, match=rf"run folder {out} is in use by pid {holder.pid} on host .* since "
                                              r".* \(adaptx run other.yaml\); wait for it to finish or use another"):
            with hold_run_folder(out, "adaptx run mine.yaml"):
                pass
    finally:
        holder.kill()  # dies holding it: the OS releases the lock, the holder file stays behind
        holder.wait()
    assert (out / RUN_HOLDER).exists()
    with hold_run_folder(out, "adaptx run mine.yaml"):
        assert json.loads((out / RUN_HOLDER).read_text())["pid"] == os.getpid()
    assert not (out / RUN_HOLDER).exists()


STAGE_HOLDER = textwrap.dedent("""
    import sys, time, pathlib
    from filelock import FileLock
    with FileLock(sys.argv[1]):
        pathlib.Path(sys.argv[2]).write_text("held")
        time.sleep(float(sys.argv[3]))
""")


def test_run_waits_for_a_search_worker_training_the_same_stage(tiny_run, tmp_path, adaptx_home, capsys):
    """A search worker holds a stage's lock (StageStore.lock); `adaptx run` on that folder waits for it."""
    config, data, out = tiny_run
    experiment = pipeline.Experiment(pipeline.load_config(config), out, data)
    stages = pipeline.plan_stages(experiment.cfg)
    experiment.prepare(stages)
    first = stages[0].id
    lock_file = out / ".locks" / f"stage-{experiment.store.dir(first).name}.lock"
    lock_file.parent.mkdir(parents=True)
    held, hold_for = tmp_path / "held", 4.0
    worker = subprocess.Popen([sys.executable, "-c", STAGE_HOLDER, str(lock_file), str(held), str(hold_for)],
                              env=child_env(adaptx_home))
    try:
        deadline = time.time() + 60
        while not held.exists() and time.time() < deadline:
            time.sleep(0.05)
        started = time.perf_counter()
        pipeline.run_experiment(config, data_dir=data, out_dir=out)
        waited = time.perf_counter() - started
    finally:
        worker.kill()
        worker.wait()
    assert f"{first}: another process (an `adaptx search` worker?) is training this stage" in capsys.readouterr().out
    assert waited > hold_for - 1


# -- checkpoints ---------------------------------------------------------------------------------

def test_checkpoint_writers_never_share_a_temporary_file(tiny_model_dir, tmp_path, monkeypatch):
    """A second writer saving the same checkpoint while the first is between writing and renaming
    (a run and a search worker on one stage): with one fixed temporary name the first writer's
    rename found its file gone (FileNotFoundError)."""
    import safetensors.torch

    from adaptx.train import _load_checkpoint, _save_checkpoint

    encoder = load_encoder(str(tiny_model_dir))
    model = build_model(encoder, Setup("intermediate", 2, own_adapter="a", base_fingerprint={}))
    optimizer = torch.optim.AdamW(model.trainable_parameters().values())
    path = tmp_path / "checkpoint.safetensors"
    real_save = safetensors.torch.save_file
    nested = {"done": False}

    def save_then_interleave(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        if not nested["done"]:  # the other writer runs its whole save now
            nested["done"] = True
            _save_checkpoint(path, model, optimizer, None, {"step": 2, "history": []})

    monkeypatch.setattr(safetensors.torch, "save_file", save_then_interleave)
    _save_checkpoint(path, model, optimizer, None, {"step": 1, "history": []})
    assert nested["done"] and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.safetensors"]
    meta, _ = _load_checkpoint(path, model, optimizer)
    assert meta["step"] == 1  # the last rename wins, whole


# -- safetensors only ----------------------------------------------------------------------------

def to_pickle(safetensors_file: Path, pickle_name: str) -> Path:
    """The same weights as a pickled torch file beside it; the safetensors file removed."""
    from safetensors.torch import load_file

    target = safetensors_file.with_name(pickle_name)
    torch.save(load_file(str(safetensors_file)), target)
    safetensors_file.unlink()
    return target


@pytest.fixture
def saved_stack(tiny_model_dir, tmp_path):
    """An intermediate adapter folder and a stack model on it, saved as a stage saves them."""
    encoder = load_encoder(str(tiny_model_dir))
    fingerprint = config_fingerprint(encoder.config)
    inter = build_model(encoder, Setup("intermediate", 2, own_adapter="qqp", base_fingerprint=fingerprint))
    save_model(inter, tmp_path / "inter")
    adapter = tmp_path / "inter" / "adapter-qqp"
    setup = Setup("stack", 3, own_adapter="xnli", frozen_adapters=["qqp"], base_fingerprint=fingerprint)
    save_model(build_model(load_encoder(str(tiny_model_dir)), setup, {"qqp": adapter}), tmp_path / "stack")
    return tmp_path / "stack", {"qqp": adapter}, lambda _folder: load_encoder(str(tiny_model_dir))


def test_an_adapter_swapped_for_a_pickle_is_refused_not_loaded(saved_stack):
    model_dir, adapters, loader = saved_stack
    load_model(model_dir, loader, adapters)  # sound: loads
    to_pickle(adapters["qqp"] / "adapter.safetensors", "pytorch_adapter.bin")
    with pytest.raises(AdaptxError, match=r"adapter 'qqp' folder .*adapter-qqp holds pickled weights "
                                          r"\(pytorch_adapter.bin\) and no adapter.safetensors; adaptx loads "
                                          r"safetensors only"):
        load_model(model_dir, loader, adapters)


def test_the_own_adapter_and_head_of_a_saved_model_are_safetensors_only(saved_stack):
    model_dir, adapters, loader = saved_stack
    to_pickle(model_dir / "adapter-xnli" / "adapter.safetensors", "pytorch_adapter.bin")
    with pytest.raises(AdaptxError, match=r"adapter 'xnli' folder .* holds pickled weights"):
        load_model(model_dir, loader, adapters)
    shutil.rmtree(model_dir / "adapter-xnli")
    to_pickle(model_dir / "head.safetensors", "head.bin")
    with pytest.raises(AdaptxError, match=r"saved model .*stack holds pickled weights \(head.bin\) and no "
                                          r"head.safetensors"):
        load_model(model_dir, loader, adapters)


def test_a_pickle_renamed_to_safetensors_is_refused(saved_stack):
    model_dir, adapters, loader = saved_stack
    weights = adapters["qqp"] / "adapter.safetensors"
    to_pickle(weights, "pytorch_adapter.bin").rename(weights)
    with pytest.raises(AdaptxError, match=r"adapter.safetensors: not a safetensors file"):
        load_model(model_dir, loader, adapters)


def test_a_base_model_folder_with_only_pickles_is_refused(tiny_model_dir, tmp_path):
    folder = tmp_path / "pickled-base"
    shutil.copytree(tiny_model_dir, folder)
    to_pickle(folder / "model.safetensors", "pytorch_model.bin")
    expected = r"pickled-base holds pickled weights \(pytorch_model.bin\) and no \*.safetensors"
    with pytest.raises(AdaptxError, match=rf"base model folder .*{expected}"):
        load_base_model(str(folder), weights=False)
    with pytest.raises(AdaptxError, match=rf"model folder .*{expected}"):  # a stage's fine-tuned encoder too
        load_encoder(str(folder))


def test_hub_ids_load_with_use_safetensors(monkeypatch):
    import transformers

    seen = {}

    def from_pretrained(source, **kwargs):
        seen.update(kwargs, source=source)
        return "model"

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", from_pretrained)
    assert load_encoder("FacebookAI/xlm-roberta-large") == "model"
    assert seen["source"] == "FacebookAI/xlm-roberta-large" and seen["use_safetensors"] is True


# -- run-folder JSON -----------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    store = StageStore(tmp_path / "run", {"target-xnli-none-s0": "0123456789abcdef"})
    folder = store.dir("target-xnli-none-s0")
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"status": "done", "config_hash": "0123456789abcdef"}))
    (folder / "metrics.json").write_text(json.dumps({"train": None}))
    return store, folder


@pytest.mark.parametrize("name", ["manifest.json", "metrics.json"])
def test_stage_files_nested_too_deeply_are_a_message(store, name):
    store, folder = store
    (folder / name).write_text(NESTED)
    with pytest.raises(AdaptxError, match=rf"{name} is unreadable \(JSON nested too deeply\); delete the folder"):
        store.finished("target-xnli-none-s0")
    assert store.is_done("target-xnli-none-s0") is (name == "metrics.json")


@pytest.mark.parametrize("metrics, field", [
    ([], r"expected a JSON object, found list"),
    ({"train": "fast"}, r"train: expected an object \(or null for a stage that trains nothing\)"),
    ({"train": {"metric": "accuracy", "best_dev_score": "high", "best_step": 1, "train_seconds": 1.0,
                "history": []}}, r"train.best_dev_score: missing or of the wrong type"),
    ({"train": None, "fusion": [1]}, r"fusion: expected an object"),
])
def test_hand_edited_metrics_name_the_field(store, metrics, field):
    store, folder = store
    (folder / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(AdaptxError, match=rf"metrics.json: {field}; delete the folder .* to redo that stage"):
        store.finished("target-xnli-none-s0")


@pytest.mark.parametrize("content, field", [
    (NESTED, r"is unreadable \(JSON nested too deeply\)"),
    ({"de": {}}, r"no entry for language 'en'"),
    ({"en": {"split": "test", "n": "6", "scores": {"accuracy": 0.5}}}, r"en.n: expected a count"),
    ({"en": {"split": "test", "n": 6, "scores": {"accuracy": float("nan")}}}, r"en.scores.accuracy: expected a finite"),
])
def test_hand_edited_evaluation_files_name_the_field(store, content, field):
    store, folder = store
    path = folder / "eval" / "en-test-0123456789.json"
    path.parent.mkdir()
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(AdaptxError, match=rf"en-test-0123456789.json:? {field}.*delete .* to evaluate again"):
        store.read_eval(path, "en", ["accuracy"])


# -- adaptx report on hand-edited files ---------------------------------------------------------

@pytest.fixture
def reported(tmp_path):
    """A run folder with two rows (none, stack) in two languages: 4 records."""
    rows = {("none", None): {0: {lang: labels(60, 20) for lang in ("en", "de")}},
            ("stack", "qqp"): {0: {lang: labels(60, 40) for lang in ("en", "de")}}}
    records = write_run(tmp_path, rows)
    (tmp_path / "results.json").write_text(json.dumps(records))
    return tmp_path, records


def report(run_dir, capsys) -> tuple[int, str, str]:
    code = main(["report", str(run_dir)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("field, value, expected", [
    ("value", "abc", r"field 'value': 'abc', expected a number"),
    ("value", float("nan"), r"field 'value': nan, expected a finite number"),
    ("value", float("inf"), r"field 'value': inf, expected a finite number"),
    ("seed", [1], r"field 'seed': \[1\], expected an integer"),
    ("seed", True, r"field 'seed': True, expected an integer"),
    ("language", ["en"], r"field 'language': \['en'\], expected a language code"),
    ("strategy", {}, r"field 'strategy': \{\}, expected a strategy name"),
    ("n", "60", r"field 'n': '60', expected a count of examples"),
    ("predictions", 5, r"field 'predictions': 5, expected a file path"),
    ("metric", "nope", r"field 'metric': unknown metric 'nope'"),
])
def test_a_malformed_record_is_named_and_the_rest_still_prints(reported, capsys, field, value, expected):
    run_dir, records = reported
    records[-1][field] = value  # stack, de
    (run_dir / "results.json").write_text(json.dumps(records))
    code, out, err = report(run_dir, capsys)
    assert code == 1 and "Traceback" not in err
    assert re.search(rf"adaptx: report: .*results.json: record 3, {expected}.*record left out", err), err
    assert "| none |" in out and "| stack (qqp) |" in out  # the rest of the table


@pytest.mark.parametrize("where", ["../outside.json", "/etc/hostname", "link"])
def test_prediction_paths_must_stay_inside_the_run_folder(reported, capsys, where):
    run_dir, records = reported
    if where == "link":  # a link inside the run folder pointing out of it
        outside = run_dir.parent / f"{run_dir.name}-outside.json"
        shutil.copy(run_dir / records[-1]["predictions"], outside)
        (run_dir / "link").symlink_to(outside)
    records[-1]["predictions"] = where
    (run_dir / "results.json").write_text(json.dumps(records))
    code, out, err = report(run_dir, capsys)
    assert code == 1 and "| none |" in out
    assert f"predictions '{where}' leads outside the run folder {run_dir}" in err and "record 3 of results.json" in err


def test_a_search_best_folder_may_point_at_its_run_stages(reported, capsys):
    run_dir, records = reported
    best = run_dir / "search" / "study" / "best"
    best.mkdir(parents=True)
    for record in records:  # as adaptx search writes them (os.path.relpath from best/)
        record["predictions"] = os.path.relpath(run_dir / record["predictions"], best)
    (best / "results.json").write_text(json.dumps(records))
    code, out, err = report(best, capsys)
    assert code == 0 and err == "" and "| stack (qqp) |" in out


@pytest.mark.parametrize("entry, expected", [
    ({"ids": "abc", "pred": [], "gold": []}, r"\[de\]: field 'ids': 'abc', expected a list"),
    ({"ids": ["a"] * 60, "pred": [0] * 60, "gold": [0] * 60}, r"\[de\]: field 'ids': 'a' is not an example id"),
    ({"ids": [10**30] * 60, "pred": [0] * 60, "gold": [0] * 60}, r"\[de\]: field 'ids': 1000.* is not an example id"),
    ({"ids": list(range(60)), "pred": [[1]] * 60, "gold": [{}] * 60}, r"\[de\]: 60 predictions scoring 0.00"),
    ([1, 2], r"no ids/pred/gold for language 'de'"),
])
def test_a_malformed_prediction_entry_is_named_and_the_rest_still_prints(reported, capsys, entry, expected):
    run_dir, records = reported
    path = run_dir / records[-1]["predictions"]
    content = json.loads(path.read_text())
    content["de"] = entry
    path.write_text(json.dumps(content))
    code, out, err = report(run_dir, capsys)
    assert code == 1 and "Traceback" not in err and "| none |" in out
    assert re.search(rf"predictions.json:? {expected}", err), err


def test_nested_json_in_results_and_prediction_files(reported, capsys):
    run_dir, records = reported
    path = run_dir / records[-1]["predictions"]
    path.write_text(NESTED)
    code, out, err = report(run_dir, capsys)
    assert code == 1 and "predictions file is unreadable (JSON nested too deeply)" in err and "| none |" in out
    (run_dir / "results.json").write_text(NESTED)
    code, out, err = report(run_dir, capsys)
    assert code == 1 and out == "" and "results.json: not valid JSON (nested too deeply" in err


@pytest.mark.parametrize("summary, expected", [
    (NESTED, r"results-summary.json is unreadable \(JSON nested too deeply\)"),
    ({"context": {"targets": 3}}, r"context.targets: 3, expected a list of task names"),
    ({"context": {"targets": ["xnli"], "missing": [1]}}, r"context.missing: \[1\], expected task"),
])
def test_a_malformed_summary_context_is_named_and_the_tables_still_print(reported, capsys, summary, expected):
    run_dir, records = reported
    (run_dir / "results.json").write_text(json.dumps(records))
    (run_dir / "results-summary.json").write_text(summary if isinstance(summary, str) else json.dumps(summary))
    code, out, err = report(run_dir, capsys)
    assert code == 1 and re.search(expected, err) and "| stack (qqp) |" in out


def test_records_that_disagree_leave_out_their_table_only(reported, capsys):
    run_dir, records = reported
    other = [dict(r, task="pawsx") for r in records]  # a second table from the same predictions
    records[-1]["split"] = "dev"  # xnli's de now disagrees across rows
    (run_dir / "results.json").write_text(json.dumps(records + other))
    code, out, err = report(run_dir, capsys)
    assert code == 1 and "table xnli accuracy left out" in err and "evaluated on different splits" in err
    assert "pawsx zero-shot accuracy" in out and "xnli zero-shot" not in out


def test_nothing_sound_left_is_one_error_listing_every_problem(reported, capsys):
    run_dir, records = reported
    for record in records:
        record["seed"] = "zero"
    (run_dir / "results.json").write_text(json.dumps(records))
    code, out, err = report(run_dir, capsys)
    assert code == 1 and out == ""
    assert [line for line in err.splitlines() if "field 'seed'" in line] and "is left to report" in err


def test_a_sound_folder_reports_with_exit_0_and_nothing_on_stderr(reported, capsys):
    run_dir, records = reported
    (run_dir / "results.json").write_text(json.dumps(records))
    code, out, err = report(run_dir, capsys)
    assert code == 0 and err == "" and "| stack (qqp) |" in out
