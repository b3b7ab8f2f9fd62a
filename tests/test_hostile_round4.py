"""Issue 36: the surfaces added since the last hostile round -- predict and its Python API, analyze,
rank, merges, config cp, report formats, run folders, the disk, named pipes, config values --
refuse hostile input with one line (`adaptx: error: ...`, naming the file or key and what to do),
never hang, never write before refusing, and never lose or overwrite results.

One section per defect family of the issue, one test per example it gives (and a second instance
where the family is wider than the example)."""

import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file, save_file

import adaptx
from helpers import deadline
from adaptx import pipeline, zoo
from adaptx.analysis.analyze import analyze
from adaptx.cli import main
from adaptx.config import load_config
from adaptx.errors import AdaptxError
from adaptx.fingerprint import sha256_file
from adaptx.commands.rank import run_rank
from sim_runs import item_correct, write_run
from tiny_data import write_tiny_data

REPO = Path(__file__).resolve().parents[1]
NONE = "target-xnli-none-s0"
STACK = "target-xnli-stack-qqp-s0"
ROW = {"premise": "a man eats", "hypothesis": "someone eats"}
LONG = "x" * 300  # a file name longer than any file system allows (255 bytes)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_dir):
    """(run folder, config file, data folder, home) of one tiny finished XNLI run: none and stack (qqp)."""
    root = tmp_path_factory.mktemp("round4")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAPTX_HOME", str(root / "home"))
        data = write_tiny_data(root / "data")
        config = root / "exp.yaml"
        config.write_text(yaml.safe_dump({
            "base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"], "target_task": "xnli",
            "languages": ["en", "de"], "strategies": ["none", "stack"], "max_seq_length": 16,
            "output_dir": str(root / "run"), "data": {"max_eval_examples": 6, "max_dev_examples": 6},
            "train": {"intermediate_steps": 2, "target_steps": 2, "batch_size": 4, "checkpoint_every": 2}}))
        pipeline.run_experiment(config, data_dir=data, out_dir=root / "run")
    return root / "run", config, data, root / "home"


@pytest.fixture
def home(run, monkeypatch):
    monkeypatch.setenv("ADAPTX_HOME", str(run[3]))


def fails(capsys, argv, *fragments) -> str:
    """The command exits 1 with one `adaptx: error: ...` line holding every fragment, no traceback."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 1, argv
    err = capsys.readouterr().err
    assert err.startswith("adaptx: error: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert all(f in err for f in fragments), err
    return err


def copy_run(run_dir: Path, to: Path) -> Path:
    shutil.copytree(run_dir, to, symlinks=True)
    return to


def stage(run_dir: Path, stage_id: str) -> Path:
    return next(p for p in (run_dir / "stages").iterdir() if p.name.rsplit("-", 1)[0] == stage_id)


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def child_env(home) -> dict:
    return dict(os.environ, ADAPTX_HOME=str(home), PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1",
                TOKENIZERS_PARALLELISM="false")


def stdin_bytes(monkeypatch, data: bytes) -> None:
    """Standard input as Python sets it up under a C locale: bad bytes become lone surrogates."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape"))


# -- 1. lone surrogates --------------------------------------------------------------------------

def test_bad_utf8_on_standard_input_is_refused_as_not_utf8(run, home, monkeypatch, capsys):
    stdin_bytes(monkeypatch, b'{"premise": "a \xff b", "hypothesis": "c"}\n')
    fails(capsys, ["predict", run[0], "--stage", NONE, "--input", "-"],
          "--input -: standard input is not UTF-8 text (byte 15: invalid start byte)")


def test_a_lone_surrogate_id_with_out_is_refused_and_nothing_is_written(run, home, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "\ud800", **ROW}) + "\n")  # json escapes it: "\ud800" in the file
    out = tmp_path / "out.jsonl"
    fails(capsys, ["predict", run[0], "--stage", NONE, "--input", rows, "--out", out],
          "rows.jsonl, line 1: field 'id' holds a lone surrogate ('\\ud800')")
    assert not out.exists()
    rows.write_text(json.dumps({"premise": "a \ud800", "hypothesis": "b"}) + "\n")  # in the text itself
    fails(capsys, ["predict", run[0], "--stage", NONE, "--input", rows], "field 'premise' holds a lone surrogate")


@pytest.mark.parametrize("rows", [5, None, b"premise"])
def test_the_python_api_refuses_what_is_not_a_list_of_rows(run, home, rows):
    predictor = adaptx.load(run[0], stage=NONE, device="cpu")
    with pytest.raises(AdaptxError, match=r"predict\(\) takes a list of rows \(each a dict with the fields"):
        predictor.predict(rows)
    with pytest.raises(AdaptxError, match="row 1: id nan: expected a string or a finite number"):
        predictor.predict([{"id": float("nan"), **ROW}])


# -- 2. output paths checked first; an OSError is one line ---------------------------------------

def test_analyze_out_onto_a_file_is_refused_before_any_run_is_read(run, home, tmp_path, capsys):
    existing = tmp_path / "existing"
    existing.write_text("mine")
    fails(capsys, ["analyze", run[0], "--out", existing, "--no-plots"], f"--out {existing} is a file, not a folder")
    assert existing.read_text() == "mine"


def test_rank_out_onto_a_file_is_refused_before_scoring(run, home, tmp_path, monkeypatch):
    existing = tmp_path / "existing"
    existing.write_text("mine")

    def no_scoring(*args, **kwargs):
        raise AssertionError("the model was loaded: --out must be checked first")
    monkeypatch.setattr("adaptx.rank.ranking.Experiment", no_scoring)
    with pytest.raises(AdaptxError, match=f"--out {existing} is a file, not a folder"):
        run_rank(run[1], ["qqp", "sst2"], out=existing, run_dir=run[0], data_dir=run[2], device="cpu")
    assert existing.read_text() == "mine"


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs a folder no one can create files in (/sys)")
def test_config_cp_into_a_folder_that_refuses_writes_is_one_line(capsys):
    fails(capsys, ["config", "cp", "quickstart", "/sys/my.yaml"], "cannot write /sys/my.yaml", "write somewhere else")


def test_a_run_whose_results_json_is_a_folder_is_refused_before_training(run, home, tmp_path, capsys):
    out = tmp_path / "run"
    (out / "results.json").mkdir(parents=True)
    fails(capsys, ["run", run[1], "--out", out, "--data-dir", run[2]], f"{out / 'results.json'} is not a file")
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]  # nothing trained, nothing written


def _file_size_limit(limit: int):
    def apply():  # in the child: writes past `limit` bytes fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_disk_that_fills_during_a_stage_is_one_line_and_the_rerun_finishes(run, home, tmp_path):
    out = tmp_path / "run"
    child = subprocess.run([sys.executable, "-m", "adaptx", "run", str(run[1]), "--out", str(out), "--data-dir",
                            str(run[2])], env=child_env(run[3]), capture_output=True, text=True, timeout=600,
                           preexec_fn=_file_size_limit(4000))
    assert child.returncode == 1, child.stderr[-2000:]
    assert "Traceback" not in child.stderr
    last = child.stderr.strip().splitlines()[-1]
    assert last.startswith(f"adaptx: error: {out}: File too large while writing into it") and "run the same command " \
        "again" in last, last
    pipeline.run_experiment(run[1], data_dir=run[2], out_dir=out)  # space freed: the same command finishes
    assert json.loads((out / "results.json").read_text()) == json.loads((run[0] / "results.json").read_text())


# -- 3. over-long names and NUL bytes ------------------------------------------------------------

def test_a_300_character_name_is_refused_in_config_cp_and_out(run, home, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fails(capsys, ["config", "cp", "quickstart", f"{LONG}.yaml"], "holds a name of 305 bytes", "at most 255")
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(ROW) + "\n")
    fails(capsys, ["predict", run[0], "--stage", NONE, "--input", rows, "--out", f"{LONG}.jsonl"],
          "--out", "holds a name of 306 bytes")
    fails(capsys, ["analyze", run[0], "--out", LONG], "--out", "holds a name of 300 bytes")
    fails(capsys, ["run", run[1], "--out", LONG, "--data-dir", run[2]], "run folder", "holds a name of 300 bytes")
    assert sorted(os.listdir(tmp_path)) == ["rows.jsonl"]


def test_an_output_dir_with_a_nul_byte_is_refused_with_the_config(run, home, tmp_path, monkeypatch):
    monkeypatch.setattr("adaptx.pipeline.Experiment", None)  # never reached: the config check refuses it first
    with pytest.raises(AdaptxError, match=r"output_dir: 'runs/a\\x00b' holds a NUL byte"):
        pipeline.run_experiment(run[1], data_dir=run[2], overrides=['output_dir="runs/a\\0b"'])
    with pytest.raises(AdaptxError, match=r"zoo_dir: .* holds a NUL byte"):
        load_config(run[1], ['zoo_dir="z\\0"'])


# -- 4. a closed standard output -------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["predict", "RUN", "--stage", NONE, "--input", "ROWS"],
                                  ["report", "RUN", "--format", "csv"]])
def test_a_reader_that_closes_standard_output_ends_the_command_quietly(run, tmp_path, argv):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(ROW) + "\n")
    argv = [str(run[0]) if a == "RUN" else str(rows) if a == "ROWS" else a for a in argv]
    child = subprocess.Popen([sys.executable, "-m", "adaptx", *argv], env=child_env(run[3]), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    child.stdout.close()  # `| true`: the reader is gone before anything is written
    err = child.stderr.read().decode()
    assert child.wait(timeout=300) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


# -- 5. predict's TSV reader ---------------------------------------------------------------------

def test_a_tsv_field_of_200_kb_is_read(run, tmp_path):
    """In a fresh process: the csv module's 128 KB limit is the process's, and the data readers lift it
    only once they are imported."""
    rows = tmp_path / "rows.tsv"
    rows.write_text("premise\thypothesis\n" + "word " * 40_000 + "\tshort\n")
    child = subprocess.run([sys.executable, "-m", "adaptx", "predict", str(run[0]), "--stage", NONE, "--input",
                            str(rows), "--device", "cpu"], env=child_env(run[3]), capture_output=True, text=True,
                           timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    assert "label" in json.loads(child.stdout)


# -- 6. adapter weights checked against the adapter they load into -------------------------------

@pytest.mark.parametrize("cut, message", [
    (lambda d: dict(list(d.items())[:4]), r"it holds 4 of the 8 tensors needed; missing encoder\.layer\.1\."),
    (lambda d: {k: v[: max(1, v.shape[0] // 2)].contiguous() for k, v in d.items()},
     r"has shape \[1\], the model's \[2\]"),
])
@pytest.mark.parametrize("stage_id, which", [(NONE, NONE), (STACK, "intermediate-adapter-qqp-s0")])
def test_adapter_weights_missing_tensors_or_of_half_size_are_refused(run, home, tmp_path, cut, message, stage_id,
                                                                       which):
    """The stage's own adapter and a frozen one it builds on (the issue's case predicted silently)."""
    run_dir = copy_run(run[0], tmp_path / "run")
    (weights,) = (stage(run_dir, which) / "model").glob("adapter-*/adapter.safetensors")
    save_file(cut(load_file(str(weights))), str(weights))
    with pytest.raises(AdaptxError, match=rf"adapter\.safetensors does not fit adapter .*{message}"):
        adaptx.load(run_dir, stage=stage_id, device="cpu")


# -- 7. card fields predict reads ----------------------------------------------------------------

@pytest.fixture
def entry(run, home, tmp_path):
    root = tmp_path / "zoo"
    assert main(["zoo", "add", str(stage(run[0], "intermediate-adapter-qqp-s0")), "--name", "qqp-tiny",
                 "--zoo", str(root)]) == 0
    return root / "qqp-tiny"


def resign(entry: Path, section: str, key: str, value) -> None:
    """Edit a card field and make the index agree: what a re-signed card looks like."""
    card = json.loads((entry / "card.json").read_text())
    card[section][key] = value
    (entry / "card.json").write_text(json.dumps(card))
    index = json.loads((entry.parent / "index.json").read_text())
    index["entries"][entry.name] = zoo.index_record(zoo.Card.of(card), sha256_file(entry / "card.json"))
    (entry.parent / "index.json").write_text(json.dumps(index))


@pytest.mark.parametrize("section, key, value, expected", [
    ("head", "labels", "pn", "a list of label names"),
    ("training", "max_seq_length", "64", "a whole number >= 8 or null"),
    ("base", "identity", ["x"], "an object"),
    ("training", "dtype", 16, "one of fp32, bf16, fp16, auto or null"),
])
def test_a_resigned_card_with_mistyped_fields_fails_verify_and_predict(entry, capsys, section, key, value, expected):
    resign(entry, section, key, value)
    capsys.readouterr()
    assert main(["zoo", "verify", "--zoo", str(entry.parent)]) == 1
    assert f"field {section}.{key} is {value!r}; expected {expected}" in capsys.readouterr().err
    with pytest.raises(AdaptxError, match=rf"failed verification:\n  - .*field {section}\.{key}"):
        adaptx.load(f"zoo:{entry.name}", zoo=entry.parent, device="cpu")


# -- 8. fusion attention in evaluation files -----------------------------------------------------

@pytest.mark.parametrize("adapters, layers, problem", [
    ([1, None], [{"layer": 0, "weights": [0.5, 0.5]}], "adapters: expected a list of adapter names"),
    (["qqp-s0-0123abcd", "xnli-s0-0123abcd"], [{"layer": 0, "weights": [0.5, "x"]}],
     "layers[0].weights: expected 2 finite numbers"),
])
def test_malformed_fusion_attention_is_a_note_not_a_traceback(tmp_path, adapters, layers, problem):
    base = item_correct(np.random.default_rng(6), ["en", "de"], 40)
    run_dir = write_run(tmp_path / "run", {("none", None): base, ("fuse", "qqp+xnli"): base})
    for path in run_dir.glob("stages/target-xnli-fuse-*/eval/*.json"):
        entry = json.loads(path.read_text())
        next(iter(entry.values()))["fusion_attention"] = {"adapters": adapters, "layers": layers}
        path.write_text(json.dumps(entry))
    a = analyze([run_dir], tmp_path / "out", resamples=20, draw_plots=False)
    assert any(f"fusion_attention: {problem}" in m for m in a.messages), a.messages


# -- 9. seeds ------------------------------------------------------------------------------------

@pytest.mark.parametrize("override, key", [("seeds=[9223372036854775808]", "seeds[0]"),
                                           ("seeds=[0, 4294967296]", "seeds[1]")])
def test_a_seed_past_the_generators_range_is_refused_before_the_run_folder(run, home, tmp_path, override, key):
    with pytest.raises(AdaptxError, match=rf"{re.escape(key)}: \d+ is too large; a seed is a whole number from 0 to "
                                          "4294967295"):
        pipeline.run_experiment(run[1], data_dir=run[2], out_dir=tmp_path / "new", overrides=[override])
    assert not (tmp_path / "new").exists()


# -- 10. named pipes -----------------------------------------------------------------------------

def test_report_with_an_evaluation_file_replaced_by_a_fifo_reports_it(run, home, tmp_path, capsys):
    run_dir = copy_run(run[0], tmp_path / "run")
    fifo = sorted(stage(run_dir, NONE).glob("eval/de-*.json"))[0]
    fifo.unlink()
    os.mkfifo(fifo)
    with deadline(60):
        assert main(["report", str(run_dir)]) == 1
    captured = capsys.readouterr()
    assert "not a regular file" in captured.err and "| stack (qqp)" in captured.out, captured


def test_analyze_with_its_summary_file_replaced_by_a_fifo_still_analyses(run, home, tmp_path):
    run_dir = copy_run(run[0], tmp_path / "run")
    (run_dir / "results-summary.json").unlink()
    os.mkfifo(run_dir / "results-summary.json")
    with deadline(120):
        a = analyze([run_dir], tmp_path / "out", resamples=20, draw_plots=False)
    assert [t.task for t in a.targets] == ["xnli"]


@pytest.mark.parametrize("command", ["run", "rank", "search"])
def test_a_config_that_is_a_fifo_is_refused_not_waited_on(tmp_path, command, capsys):
    os.mkfifo(tmp_path / "cfg.yaml")
    with deadline(60):
        fails(capsys, [command, tmp_path / "cfg.yaml"], "cfg.yaml: not a regular file", "pass a config file")


# -- 11. silent acceptance -----------------------------------------------------------------------

def test_empty_standard_input_is_refused_like_an_empty_file(run, home, monkeypatch, capsys):
    stdin_bytes(monkeypatch, b"")
    fails(capsys, ["predict", run[0], "--stage", NONE, "--input", "-"], "--input -: no rows on standard input")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(run, home, monkeypatch, capsys, constant):
    stdin_bytes(monkeypatch, f'{{"id": {constant}, "premise": "a", "hypothesis": "b"}}\n'.encode())
    fails(capsys, ["predict", run[0], "--stage", NONE, "--input", "-"],
          f"<stdin>, line 1: not a JSON object ({constant}: JSON has no NaN or Infinity)")


@pytest.mark.parametrize("length", [1, 7])
def test_a_sequence_length_too_short_to_truncate_to_is_refused(run, length):
    with pytest.raises(AdaptxError, match=rf"max_seq_length: {length} leaves no room .* use at least 8"):
        load_config(run[1], [f"max_seq_length={length}"])


@pytest.mark.parametrize("override, key", [("train.batch_size=1000000000", "train.batch_size"),
                                           ("train.target_batch_size={xnli: 100}", "train.target_batch_size.xnli")])
def test_a_batch_larger_than_the_training_rows_is_refused_before_training(run, home, tmp_path, override, key):
    with pytest.raises(AdaptxError, match=rf"{key}: \d+ is more than the 24 training rows of \w+ .* set {key} <= 24"):
        pipeline.run_experiment(run[1], data_dir=run[2], out_dir=tmp_path / "new", overrides=[override])
    assert not (tmp_path / "new").exists()


# -- 12. data loss and writes outside the folder -------------------------------------------------

def test_predict_never_writes_over_its_input_nor_into_the_folder_it_predicts_with(run, home, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(ROW) + "\n")
    fails(capsys, ["predict", run[0], "--stage", NONE, "--input", rows, "--out", rows], "is the --input file")
    (tmp_path / "link.jsonl").symlink_to(rows)
    fails(capsys, ["predict", run[0], "--stage", NONE, "--input", rows, "--out", tmp_path / "link.jsonl"],
          "is the --input file")
    assert rows.read_text() == json.dumps(ROW) + "\n"
    before = snapshot(run[0])
    fails(capsys, ["predict", run[0], "--stage", NONE, "--input", rows, "--out", run[0] / "results.json"],
          "the folder predicted with")
    assert snapshot(run[0]) == before


def test_smoke_with_out_never_writes_into_a_real_run(run, home, capsys):
    before = snapshot(run[0])
    fails(capsys, ["run", run[1], "--out", run[0], "--data-dir", run[2], "--smoke"],
          f"--smoke: {run[0]} holds files that are not a smoke run's")
    assert snapshot(run[0]) == before


def test_a_stage_manifest_pointing_outside_the_run_folder_loads_nothing_from_there(run, home, tmp_path):
    run_dir = copy_run(run[0], tmp_path / "run")
    outside = tmp_path / "outside" / "stages"
    inner = stage(run_dir, "intermediate-adapter-qqp-s0")
    shutil.copytree(inner, outside / inner.name)
    manifest_path = stage(run_dir, STACK) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["recipe"]["needs"] = {f"../../outside/stages/{k}": v for k, v in manifest["recipe"]["needs"].items()}
    manifest_path.write_text(json.dumps(manifest))
    shutil.rmtree(inner)
    with pytest.raises(AdaptxError, match=r"manifest.json: recipe.needs: stage '\.\./\.\./outside/.*' with hash "
                                          r".*: not a stage of this run folder"):
        adaptx.load(run_dir, stage=STACK, device="cpu")
    # publishing the stage reads the same manifest: the adapter outside is not copied into a zoo either
    with pytest.raises(AdaptxError, match=r"not a stage of this run folder"):
        zoo.add_entry(tmp_path / "zoo", stage(run_dir, STACK), "stack-tiny")
    assert not (tmp_path / "zoo" / "stack-tiny").exists()


def test_a_stage_folder_linked_to_one_outside_the_run_folder_is_refused(run, home, tmp_path):
    run_dir = copy_run(run[0], tmp_path / "run")
    inner = stage(run_dir, "intermediate-adapter-qqp-s0")
    shutil.move(inner, tmp_path / inner.name)
    inner.symlink_to(tmp_path / inner.name)
    with pytest.raises(AdaptxError, match=r"it builds on is .* which leads outside the run folder"):
        adaptx.load(run_dir, stage=STACK, device="cpu")


def test_config_cp_onto_a_dangling_link_writes_nothing_at_its_target(tmp_path, capsys):
    (tmp_path / "my.yaml").symlink_to(tmp_path / "elsewhere" / "target.yaml")
    (tmp_path / "elsewhere").mkdir()
    fails(capsys, ["config", "cp", "quickstart", tmp_path / "my.yaml"], "already exists (a symbolic link to")
    assert not (tmp_path / "elsewhere" / "target.yaml").exists()


# -- merges: adapters of different configurations ------------------------------------------------

def test_a_merge_of_adapters_with_different_reduction_factors_is_refused_before_training(run, home, entry,
                                                                                          tmp_path):
    config = tmp_path / "merge.yaml"
    raw = yaml.safe_load(run[1].read_text())
    raw.update(intermediate_tasks=["sst2", "zoo:qqp-tiny"], strategies=["merge"], zoo_dir=str(entry.parent),
               adapter={"reduction_factor": 8})
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(AdaptxError, match=r"strategies: 'merge' merges .* sst2: seq_bn, reduction factor 8 .*"
                                          r"zoo:qqp-tiny: seq_bn, reduction factor 16"):
        pipeline.run_experiment(config, data_dir=run[2], out_dir=tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
