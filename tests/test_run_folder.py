"""adaptx.run_folder: where a run's and a stage's files are, read from tiny folders made here (no model)."""

import json
import threading
import time

import pytest
import yaml

from adaptx.errors import AdaptxError
from adaptx.run_folder import HASH_CHARS, RunFolder, StageFolder, stage_folder_name

HASH = "0123456789abcdef"


def write(path, content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))


@pytest.fixture
def run(tmp_path) -> RunFolder:
    return RunFolder(tmp_path / "run")


def test_a_stage_folder_is_named_by_its_id_and_hash(run):
    assert stage_folder_name("target-xnli-none-s0", HASH) == f"target-xnli-none-s0-{HASH[:HASH_CHARS]}"
    stage = run.stage("target-xnli-none-s0", HASH)
    assert stage.path == run.path / "stages" / f"target-xnli-none-s0-{HASH[:HASH_CHARS]}"
    assert stage.run == run and run.stage_named(stage.name) == stage
    for stage_id, digest in (("../x", HASH), ("x", "a/b"), ("", HASH), (None, HASH), ("x", "\0")):
        with pytest.raises(AdaptxError, match="not a stage of this run folder"):
            stage_folder_name(stage_id, digest)


def test_the_files_of_a_run_folder(run):
    assert run.config_file == run.path / "config.yaml" and run.results_file == run.path / "results.json"
    assert run.tables_file.name == "results.md" and run.summary_file.name == "results-summary.json"
    assert run.stages_dir == run.path / "stages" and run.analysis_dir == run.path / "analysis"
    assert RunFolder(str(run.path)).path == run.path  # a string path is taken as a Path


def test_the_files_of_a_stage_folder(run):
    stage = run.stage("intermediate-adapter-qqp-s0", HASH)
    assert stage.manifest_file == stage.path / "manifest.json" and stage.metrics_file == stage.path / "metrics.json"
    assert stage.model_dir == stage.path / "model" and stage.setup_file == stage.path / "model" / "setup.json"
    evaluation = stage.eval_file("de", "test", "fedcba9876543210")
    assert evaluation == stage.path / "eval" / "de-test-fedcba9876.json"
    assert StageFolder.holding(evaluation) == stage
    assert RunFolder.stage_name_of(f"stages/{stage.name}/eval/{evaluation.name}") == stage.name
    assert RunFolder.stage_name_of("results.json") == ""
    assert stage.needed("other", HASH) == run.stage("other", HASH)  # a stage it builds on lies beside it


def test_stage_files_are_read_as_json_objects_with_the_remedy(run):
    stage = run.stage("s", HASH)
    with pytest.raises(AdaptxError, match=r"manifest\.json is missing; run it again"):
        stage.read_manifest("run it again")
    stage.path.mkdir(parents=True)
    stage.write_manifest({"status": "done"})
    stage.write_metrics({"task": "xnli"})
    write(stage.setup_file, {"strategy": "none"})
    assert stage.read_manifest("") == {"status": "done"} and stage.read_metrics("") == {"task": "xnli"}
    assert stage.read_setup("") == {"strategy": "none"}
    write(stage.metrics_file, [1, 2])
    with pytest.raises(AdaptxError, match=r"metrics\.json: expected a JSON object, found list; redo it"):
        stage.read_metrics("redo it")


@pytest.mark.parametrize("manifest, done", [({"status": "done"}, True), ({"status": "running"}, False),
                                            ("{not json", False), (None, False)])
def test_a_stage_is_done_only_when_its_manifest_says_so(run, manifest, done):
    stage = run.stage("s", HASH)
    if manifest is not None:
        write(stage.manifest_file, manifest)
    assert stage.is_done() is done


def test_the_stages_of_a_run_are_its_stage_folders_by_name(run):
    assert run.stages() == []  # nothing trained yet: no stages/ at all
    for stage_id in ("target-xnli-none-s0", "intermediate-adapter-qqp-s0", "target-xnli-none-s0-extra"):
        run.stage(stage_id, HASH).path.mkdir(parents=True)
    run.stage("target-xnli-none-s0", "fedcba9876543210").path.mkdir()
    write(run.stages_dir / "notes.txt", "not a stage")
    assert [s.name for s in run.stages()] == sorted(p.name for p in run.stages_dir.iterdir() if p.is_dir())
    assert [s.name for s in run.stages_of("target-xnli-none-s0")] == [
        f"target-xnli-none-s0-{HASH[:HASH_CHARS]}", "target-xnli-none-s0-fedcba9876"]  # not ...-extra


def test_a_stage_finds_the_adapters_it_saved(run):
    stage = run.stage("intermediate-adapter-qqp-s0", HASH)
    (stage.model_dir / "adapter-qqp-s0-tiny").mkdir(parents=True)
    assert stage.saved_adapter("qqp-s0-tiny") == stage.model_dir / "adapter-qqp-s0-tiny"
    assert stage.saved_adapter("mnli-s0-tiny") is None
    old = run.stage("intermediate-adapter-sst2-s0", HASH)  # saved before names carried seed and base
    (old.model_dir / "adapter-sst2").mkdir(parents=True)
    write(old.setup_file, {"own_adapter": "sst2"})
    assert old.saved_adapter("sst2-s0-tiny") == old.model_dir / "adapter-sst2"
    assert old.saved_adapter("qqp-s0-tiny") is None


def test_a_stage_lock_makes_the_second_taker_wait(run):
    stage = run.stage("s", HASH)
    held, waited = threading.Event(), []

    def holder():
        with stage.lock():
            held.set()
            time.sleep(0.5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    with stage.lock(on_wait=lambda: waited.append(time.perf_counter())):
        assert not thread.is_alive()  # the holder released it first
    thread.join()
    assert len(waited) == 1 and (run.locks_dir / f"stage-{stage.name}.lock").exists()
    assert not run.stages_dir.exists()  # locks live in .locks/, nothing in stages/ but stage folders


def test_the_run_folder_of_a_search_best_trial(run):
    best = run.search_dir / "study" / "best"
    assert RunFolder.of_results(best) == run
    assert RunFolder.of_results(run.path) == run
    assert RunFolder.of_results(run.path / "best") == RunFolder(run.path / "best")  # not under search/<study>/


def test_the_run_config_or_a_search_trial_s(run):
    assert run.read_config() == {} and run.config_source() == run.config_file  # none at all
    write(run.search_dir / "study" / "trials" / "0001" / "config.yaml", yaml.safe_dump({"base_model": "b1"}))
    write(run.search_dir / "study" / "trials" / "0000" / "config.yaml", yaml.safe_dump({"base_model": "b0"}))
    assert run.read_config() == {"base_model": "b0"}  # a search's run folder: its first trial's
    write(run.config_file, yaml.safe_dump({"base_model": "own"}))
    assert run.read_config() == {"base_model": "own"}
    write(run.config_file, "- a list\n")
    assert run.read_config() == {}
    write(run.config_file, "a: 1\na: 2\n")  # adaptx.safe_yaml's refusals are yaml errors for the caller
    with pytest.raises(yaml.YAMLError):
        run.read_config()
