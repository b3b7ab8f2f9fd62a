"""`adaptx search` on a tiny random model and tiny data: the average and merge strategies, the
search-space format and its errors, trials and outputs, pruning, several workers on one study
(SQLite, a real PostgreSQL server, a journal file), a worker killed mid-trial, and the exported
best config rerunning to the same English dev score."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import torch
import yaml

from adaptx import pipeline
from adaptx.config import load_config
from adaptx.errors import AdaptxError
from adaptx.modeling import Setup, build_model, load_model, save_model
from adaptx.models import config_fingerprint, load_encoder
from adaptx.search import run_search
from adaptx.train import TrainJob, train_model
from tiny_data import write_tiny_data

ROOT = Path(__file__).resolve().parents[1]


def experiment(tiny_model_dir, search=None, **extra):
    config = {
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli",
        "languages": ["en", "de", "sw"], "strategies": ["stack"], "max_seq_length": 16,
        "train": {"intermediate_steps": 2, "target_steps": 3, "batch_size": 4, "checkpoint_every": 1, "eval_every": 1},
        "data": {"max_eval_examples": 6, "max_dev_examples": 6},
    }
    config.update(extra)
    if search is not None:
        config["search"] = search
    return config


@pytest.fixture
def tiny(tmp_path, tiny_model_dir, adaptx_home):
    data = write_tiny_data(tmp_path / "data")

    def write(search=None, name="exp.yaml", **extra):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(experiment(tiny_model_dir, search, **extra)))
        return path

    return write, data, tmp_path / "run"


# -- the average and merge strategies --------------------------------------------------------------

@pytest.fixture
def inter_dirs(tiny_model_dir, tmp_path):
    dirs = {}
    for i, name in enumerate(["qqp", "sst2"]):
        torch.manual_seed(i)
        enc = load_encoder(str(tiny_model_dir))
        model = build_model(enc, Setup("intermediate", 2, own_adapter=name, base_fingerprint=config_fingerprint(enc.config)))
        with torch.no_grad():
            for p in model.trainable_parameters().values():
                p.add_(torch.randn_like(p) * 0.1)
        save_model(model, tmp_path / name)
        dirs[name] = tmp_path / name / f"adapter-{name}"
    return dirs


def adapter_weight(model, name, part="adapter_up.weight"):
    return next(p for n, p in model.encoder.named_parameters() if f"adapters.{name}." in n and n.endswith(part))


@pytest.mark.parametrize("strategy", ["average", "merge"])
def test_combined_adapters_are_frozen_and_reload_exactly(strategy, tiny_model_dir, inter_dirs, tmp_path):
    enc = load_encoder(str(tiny_model_dir))
    setup = Setup(strategy, 3, own_adapter="xnli", frozen_adapters=["qqp", "sst2"], combine_weights=[0.7, -0.2],
                  base_fingerprint=config_fingerprint(enc.config), **{strategy: ["qqp", "sst2"]})
    model = build_model(enc, setup, inter_dirs)
    assert all("adapters.xnli." in n or n.startswith("head.") for n in model.trainable_parameters())
    if strategy == "merge":  # one adapter whose weights are 0.7 * qqp - 0.2 * sst2, the sources gone
        q, s = (load_encoder(str(tiny_model_dir)) for _ in range(2))
        ref = {name: build_model(e, Setup("stack", 3, own_adapter="x", frozen_adapters=[name],
                                          base_fingerprint=setup.base_fingerprint), inter_dirs)
               for name, e in (("qqp", q), ("sst2", s))}
        expected = 0.7 * adapter_weight(ref["qqp"], "qqp") - 0.2 * adapter_weight(ref["sst2"], "sst2")
        assert torch.allclose(adapter_weight(model, "qqp+sst2"), expected)
        assert not any("adapters.qqp." in n for n, _ in model.encoder.named_parameters())
        assert str(model.encoder.active_adapters) == "Stack[qqp+sst2, xnli]"
    else:
        # as given, not normalised, times n: the library's Average means after weighting (average_block_weights)
        assert model.encoder.active_adapters[0].weights == [1.4, -0.4]
    ids, mask = torch.randint(5, 20, (2, 7)), torch.ones(2, 7, dtype=torch.long)
    model.eval()
    save_model(model, tmp_path / "saved")
    again = load_model(tmp_path / "saved", lambda _: load_encoder(str(tiny_model_dir)), inter_dirs)
    assert torch.equal(model(ids, mask), again(ids, mask))


def test_average_and_merge_run_and_their_hash_includes_the_weights(tiny, capsys):
    write, data, out = tiny
    config = write(strategies=["average", "merge"])
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    stages = sorted(p.name.rsplit("-", 1)[0] for p in (out / "stages").iterdir() if not p.name.startswith("."))
    assert stages == ["intermediate-adapter-qqp-s0", "intermediate-adapter-sst2-s0",
                      "target-xnli-average-qqp+sst2-s0", "target-xnli-merge-qqp+sst2-s0"]
    records = json.loads((out / "results.json").read_text())
    assert {(r["strategy"], r["intermediate"]) for r in records} == {("average", "qqp+sst2"), ("merge", "qqp+sst2")}
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["combine.weights={qqp: 0.9, sst2: 0.1}"])
    trained = [line[2:].split(":")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("+ ")]
    assert trained == ["target-xnli-average-qqp+sst2-s0", "target-xnli-merge-qqp+sst2-s0"]  # intermediates kept


def test_an_unused_observer_changes_nothing_and_a_raising_one_stops_training(tiny_model_dir, tmp_path):
    from helpers import Encoded

    g = torch.Generator().manual_seed(0)
    ids = [[0] + torch.randint(4, 20, (5,), generator=g).tolist() + [2] for _ in range(24)]
    data = Encoded(ids, [row[1] % 3 for row in ids])
    job = TrainJob(steps=6, lr=5e-3, batch_size=8, seed=0, checkpoint_every=2, eval_every=2)

    def run(folder, on_evaluate=None):
        torch.manual_seed(0)
        model = build_model(load_encoder(str(tiny_model_dir)), Setup("none", 3, own_adapter="t", base_fingerprint={}))
        summary = train_model(model, data, data, job, 1, tmp_path / folder / "ckpt.safetensors", on_evaluate=on_evaluate)
        return summary, model

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    plain, model_a = run("a")
    seen = []
    observed, model_b = run("b", lambda step, score: seen.append((step, score)))
    assert seen == [(h["step"], h["dev_score"]) for h in plain["history"]] == [(h["step"], h["dev_score"])
                                                                                 for h in observed["history"]]
    assert all(torch.equal(a, b) for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()))

    class Stop(Exception):
        pass

    def stop_at_4(step, score):
        if step == 4:
            raise Stop

    with pytest.raises(Stop):
        run("c", stop_at_4)
    assert (tmp_path / "c" / "ckpt.safetensors").is_file()  # a later run resumes from it


# -- the search space ----------------------------------------------------------------------------------

GOOD = {"compositions": ["stack", "fuse", "average", "merge"], "space": {"fusion.preset": ["dynamic", "static"]}}


@pytest.mark.parametrize("search, message", [
    ({"compositions": []}, "search.compositions: expected a non-empty list"),
    ({"compositions": ["fusion"]}, "search.compositions[0]: unknown composition 'fusion'"),
    ({"adapters": ["qqp", "nope"]}, "search.adapters: "),
    ({"adapters": ["qqp", "zoo:no such"]}, "search.adapters: "),
    ({"adapters": ["qqp"], "compositions": ["stack", "fuse"]}, "fuse combines two or more adapters"),
    ({"adapters": [], "compositions": ["stack"]}, "search.adapters: empty"),
    ({"compositions": ["stack"], "space": {"fusion.preset": ["static"]}}, "applies only to fuse"),
    ({"compositions": ["fuse"], "space": {"combine.weights": {"low": 0, "high": 1}}}, "applies only to average and merge"),
    ({"space": {"train.lr_fusion": {"low": 1e-2, "high": 1e-3}}}, "empty range"),
    ({"space": {"train.lr_fusion": {"low": 0, "high": 1e-3, "log": True}}}, "log: true needs low > 0"),
    ({"space": {"train.lr_head": [1e-3]}}, "search train.target_lr_head instead"),
    ({"space": {"adapter.reduction_factor": [8]}}, "search adapter.target_reduction_factor instead"),
    ({"space": {"fusion.temprature": [True]}}, "search.space.fusion.temprature: not a config key"),
    ({"space": {"data.max_train_examples": [10]}}, "not searchable"),
    ({"space": {"fusion.preset": ["dynamic", "bogus"]}}, "search.space.fusion.preset: value 'bogus' is not valid"),
    ({"space": {"train.target_lr_head": [2.0]}}, "value 2.0 is not valid"),
    ({"space": {"fusion.preset": []}}, "empty list"),
    ({"objectives": ["dev", "speed"]}, "search.objectives"),
    ({"objectives": ["dev", "latency"], "pruner": "median"}, "Optuna prunes single-objective studies only"),
    ({"pruner": "asha"}, "search.pruner: 'asha'"),
    ({"pruner_warmup_steps": -1}, "search.pruner_warmup_steps: expected a whole number of target steps >= 0, got -1"),
    ({"trails": 3}, "search.trails: unknown key"),
])
def test_bad_search_spaces_fail_naming_file_and_key(tmp_path, search, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli", "search": search}))
    with pytest.raises(AdaptxError) as err:
        load_config(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_a_good_space_loads_with_its_conditions(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(yaml.safe_dump({"intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli", "search": {
        **GOOD, "space": {**GOOD["space"], "train.lr_fusion": {"low": "1e-4", "high": "1e-2", "log": True},
                          "train.target_steps": {"low": 50, "high": 150, "step": 50},
                          "combine.weights": {"low": -0.5, "high": 1.5}}}}))
    from adaptx.search_space import parse_search

    cfg = load_config(path)
    spec = parse_search(cfg, str(path))
    assert spec.subsets() == ["qqp+sst2"] and spec.pruner == "median"
    steps = next(p for p in spec.params if p.key == "train.target_steps")
    assert steps.is_int and steps.applies == ("stack", "fuse", "average", "merge")  # those listed
    assert next(p for p in spec.params if p.key == "train.lr_fusion").applies == ("fuse",)
    assert spec.weights.applies == ("average", "merge")


# -- running a search --------------------------------------------------------------------------------

SPACE = {"compositions": ["stack", "fuse", "average", "merge"], "seed": 0,
         "space": {"fusion.preset": ["dynamic", "static"], "combine.weights": {"low": -0.5, "high": 1.5},
                   "train.target_lr_head": [1e-3, 3e-3]}}


def target_score(stage_dir: Path) -> float:
    return json.loads((stage_dir / "metrics.json").read_text())["train"]["best_dev_score"]


def test_trials_complete_share_intermediate_adapters_and_the_best_config_reruns(tiny, capsys):
    write, data, out = tiny
    config = write(dict(SPACE, pruner="none", trials=4))
    folder = run_search(config, data_dir=data, out_dir=out)
    printed = capsys.readouterr().out
    study = optuna.load_study(study_name="experiment", storage=f"sqlite:///{out / 'search.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    for adapter in ("qqp", "sst2"):  # trained once, reused by every trial that uses it
        assert printed.count(f"+ intermediate-adapter-{adapter}-s0:") <= 1
        assert len(list((out / "stages").glob(f"intermediate-adapter-{adapter}-s0-*"))) <= 1
    rows = (folder / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("trial,state,en_dev,composition,adapters") and len(rows) == 5
    assert (folder / "trials.md").read_text().count("| COMPLETE |") == 4
    for name in ("history.png", "importances.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for t in study.trials:
        record = json.loads((folder / "trials" / f"{t.number:04d}" / "trial.json").read_text())
        assert record["value"] == t.value == target_score(Path(record["target_stage"]))
    best = max(study.trials, key=lambda t: (t.value, -t.number))
    assert (folder / "best" / "results.md").is_file()  # zero-shot in every language of the config
    assert {r["language"] for r in json.loads((folder / "best" / "results.json").read_text())} == {"en", "de", "sw"}
    # best.yaml retrains from scratch in a fresh folder: the same English dev score
    best_cfg = yaml.safe_load((folder / "best.yaml").read_text())
    assert "search" not in best_cfg and best_cfg["strategies"] == [best.params["composition"]]
    rerun = pipeline.run_experiment(folder / "best.yaml", out_dir=out.parent / "rerun")
    target = [p for p in (rerun / "stages").iterdir() if p.name.startswith("target-")]
    assert len(target) == 1 and target_score(target[0]) == best.value
    # a rerun with the same --trials adds nothing; a larger one adds trials to the same study
    run_search(config, data_dir=data, out_dir=out)
    assert len(optuna.load_study(study_name="experiment", storage=f"sqlite:///{out / 'search.db'}").trials) == 4
    run_search(config, data_dir=data, out_dir=out, trials=5)
    assert len(optuna.load_study(study_name="experiment", storage=f"sqlite:///{out / 'search.db'}").trials) == 5


def test_the_best_trial_is_compared_with_the_configs_defaults_on_held_apart_english_rows(tiny, capsys):
    from adaptx.search_defaults import objective_standard_error

    write, data, out = tiny
    config = write({"compositions": ["stack", "average"], "pruner": "none", "trials": 2, "seed": 0,
                    "holdout_examples": 5}, strategies=["stack", "average"])
    folder = run_search(config, data_dir=data, out_dir=out)
    summary = json.loads((folder / "versus-defaults.json").read_text())
    # the config's own compositions: stack of each intermediate task, average of both
    assert sorted(d["default"] for d in summary["defaults"]) == ["average (qqp+sst2)", "stack (qqp)", "stack (sst2)"]
    assert summary["rows"] == 5 and summary["language"] == "en" and summary["split"] == "test"
    picked = max(summary["defaults"], key=lambda d: d["default_dev"])
    assert summary["picked_default"] == picked["default"]
    for d in summary["defaults"]:  # delta = best minus default, on the same rows; inside its interval
        assert d["delta"] == pytest.approx(summary["best_score"] - d["score"], abs=0.02)
        assert d["lo"] <= d["delta"] <= d["hi"]
        assert d["verdict"] == ("better" if d["lo"] > 0 else "worse" if d["hi"] < 0 else "no clear difference")
    assert "(picked)" in (folder / "versus-defaults.md").read_text()
    assert "held-apart English test rows" in capsys.readouterr().out
    # the held-apart rows are their own evaluation files: the zero-shot ones (6 rows) are untouched
    best_stage = next((out / "stages").glob(f"{json.loads((folder / 'best' / 'results.json').read_text())[0]['predictions'].split('/')[-3]}"))
    sizes = sorted(len(json.loads(p.read_text())["en"]["ids"]) for p in (best_stage / "eval").glob("en-test-*.json"))
    assert sizes == [5, 6]
    # one binomial standard error, by hand: 100 * sqrt(0.5 * 0.5 / 1000) = 1.58 points
    assert objective_standard_error({"train": {"metric": "accuracy", "best_dev_score": 0.5},
                                     "data": {"dev_rows": 1000}}) == pytest.approx(1.5811, abs=1e-4)
    assert objective_standard_error({"train": {"metric": "f1", "best_dev_score": 0.5}, "data": {"dev_rows": 9}}) is None
    assert "One standard error of a trial's English dev score" in (folder / "trials.md").read_text()


def test_two_objectives_give_a_pareto_front(tiny):
    write, data, out = tiny
    config = write({"compositions": ["stack", "merge"], "objectives": ["dev", "adapters"], "trials": 3, "seed": 1,
                    "space": {"combine.weights": {"low": 0.0, "high": 1.0}}})
    folder = run_search(config, data_dir=data, out_dir=out)
    study = optuna.load_study(study_name="experiment", storage=f"sqlite:///{out / 'search.db'}")
    assert all(t.state.name == "COMPLETE" and t.values[1] == 2.0 for t in study.trials)  # stack 1+1; merge 1+1
    front = {t.number for t in study.best_trials}
    assert {int(p.stem.split("-")[1]) for p in (folder / "pareto").glob("trial-*.yaml")} == front
    assert (folder / "pareto.png").is_file() and "adapters" in (folder / "trials.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("warmup, reported", [(0, [1]), (4, [1, 2, 3, 4])])
def test_the_pruner_stops_a_bad_trial(tiny, monkeypatch, warmup, reported):
    write, data, out = tiny
    config = write({"adapters": ["qqp"], "compositions": ["stack"], "pruner": "median", "trials": 3,
                    "pruner_warmup_steps": warmup,
                    "space": {"train.target_lr_head": [1e-3, 2e-3]}}, train={
        "intermediate_steps": 2, "target_steps": 6, "batch_size": 4, "checkpoint_every": 2, "eval_every": 1})
    real = pipeline.train_model

    def scripted(model, train, dev, job, *args, on_evaluate=None, **kwargs):
        """Real training; the English dev score seen is 0.9 for head lr 1e-3 and 0.1 for 2e-3."""
        fake = 0.9 if job.head_lr == 1e-3 else 0.1
        summary = real(model, train, dev, job, *args,
                       on_evaluate=(lambda step, _: on_evaluate(step, fake)) if on_evaluate else None, **kwargs)
        return dict(summary, best_dev_score=fake)

    monkeypatch.setattr(pipeline, "train_model", scripted)
    out.mkdir()
    study = optuna.create_study(study_name="experiment", storage=f"sqlite:///{out / 'search.db'}", direction="maximize")
    for lr_head in (1e-3, 1e-3, 2e-3):  # the second repeats the first: its stage is reused, not retrained
        study.enqueue_trial({"composition": "stack", "adapter": "qqp", "train.target_lr_head": lr_head})
    run_search(config, data_dir=data, out_dir=out)
    trials = optuna.load_study(study_name="experiment", storage=f"sqlite:///{out / 'search.db'}").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert trials[1].user_attrs["reused"] and not trials[0].user_attrs["reused"]
    # stopped at its first evaluation after the warm-up, not after 6 steps
    assert list(trials[2].intermediate_values) == reported
    pruned_stage = next((out / "stages").glob(f"*{trials[2].user_attrs['stage']}*"))
    assert json.loads((pruned_stage / "manifest.json").read_text())["status"] == "running"


def test_bad_input_fails_before_any_trial(tiny, tiny_model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    write, data, out = tiny
    config = write(dict(SPACE, trials=1, pruner="none"))
    with pytest.raises(AdaptxError, match="cannot open the study database|driver is not installed"):
        run_search(config, data_dir=data, out_dir=out, storage=f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    with pytest.raises(AdaptxError, match="not a database URL"):
        run_search(config, data_dir=data, out_dir=out, storage="no-such-scheme")
    with pytest.raises(AdaptxError, match="does not exist"):
        run_search(config, data_dir=data, out_dir=out, storage=f"journal:{out}/missing/journal.log")
    zoo = write(dict(SPACE, adapters=["qqp", "zoo:not-published"]), name="zoo.yaml")
    with pytest.raises(AdaptxError, match="not-published"):
        run_search(zoo, data_dir=data, out_dir=out)
    assert not (out / "search.db").exists()  # nothing was created
    run_search(config, data_dir=data, out_dir=out)  # a study of one trial
    other_space = write(dict(SPACE, trials=1, space={"fusion.preset": ["static"]}), name="other.yaml")
    with pytest.raises(AdaptxError, match="created with another search space"):
        run_search(other_space, data_dir=data, out_dir=out, trials=2)
    other_base = tmp_path / "other-base"
    shutil.copytree(tiny_model_dir, other_base)
    weights = load_file(other_base / "model.safetensors")
    first = next(iter(weights))
    weights[first] = weights[first] + 0.01
    save_file(weights, other_base / "model.safetensors")
    with pytest.raises(AdaptxError, match="created with another base model"):
        run_search(config, data_dir=data, out_dir=out, trials=2, overrides=[f"base_model={other_base}"])
    study = optuna.load_study(study_name="experiment", storage=f"sqlite:///{out / 'search.db'}")
    assert len(study.trials) == 1  # the refused runs added nothing


# -- several workers -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(config, data, out, storage, trials, log):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "adaptx", "search", str(config), "--data-dir", str(data), "--out", str(out),
               "--trials", str(trials)] + (["--storage", storage] if storage else [])
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def finished_ok(study, n):
    counted = [t for t in study.trials if not t.user_attrs.get("adaptx_surplus")]
    finished = [t for t in counted if t.state.name in ("COMPLETE", "PRUNED")]
    numbers = [t.number for t in study.trials]
    return len(finished) == n and len(numbers) == len(set(numbers)) and all(
        t.state.name in ("COMPLETE", "PRUNED") or t.user_attrs.get("adaptx_surplus") for t in study.trials)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A throwaway PostgreSQL cluster on a free port (as the postgres user when running as root)."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'adaptx[postgres]')")
    bins = [Path(p).resolve().parent for p in [shutil.which("initdb")] if p] + sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    bindir = next((b for b in bins if (b / "initdb").is_file() and (b / "pg_ctl").is_file()), None)
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (Debian: apt-get install postgresql; .ci/run does)")
    as_user = []
    root = Path(tempfile.mkdtemp(prefix="adaptx-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        if not shutil.which("runuser") or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a postgres user to run the server as")
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port, data = free_port(), root / "data"
    run = lambda *args: subprocess.run([*as_user, *map(str, args)], check=True, capture_output=True, timeout=120)  # noqa: E731
    run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run(bindir / "pg_ctl", "-D", data, "-l", root / "log", "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "journal"])
def test_two_workers_finish_n_trials_between_them(backend, tiny, request):
    write, data, out = tiny
    out.mkdir()
    storage = {"sqlite": None, "journal": f"journal:{out / 'journal.log'}"}.get(backend)
    if backend == "postgresql":
        storage = request.getfixturevalue("postgres_url")
        study_name = f"two-workers-{os.getpid()}-{time.time_ns()}"
    else:
        study_name = "two-workers"
    config = write(dict(SPACE, pruner="none", study=study_name, seed=None))
    logs = [open(out / f"worker{i}.log", "w") for i in range(2)]
    procs = [worker(config, data, out, storage, 4, logs[i]) for i in range(2)]
    codes = [p.wait(timeout=300) for p in procs]
    outputs = [(out / f"worker{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], outputs
    if backend == "journal":
        from optuna.storages.journal import JournalFileBackend

        store = optuna.storages.JournalStorage(JournalFileBackend(str(out / "journal.log")))
    else:
        store = storage or f"sqlite:///{out / 'search.db'}"
    study = optuna.load_study(study_name=study_name, storage=store)
    assert finished_ok(study, 4), [(t.number, t.state.name, t.user_attrs) for t in study.trials]
    both = "".join(outputs)
    assert both.count("+ intermediate-adapter-qqp-s0:") <= 1 and both.count("+ intermediate-adapter-sst2-s0:") <= 1
    assert all(f"adaptx: trial {t.number} [" in both for t in study.trials if t.state.name == "COMPLETE")
    workers = {t.user_attrs["adaptx_worker"]["pid"] for t in study.trials}
    assert len(workers) == 2  # both took part


def test_a_killed_worker_loses_only_its_trial_and_a_restart_continues(tiny):
    write, data, out = tiny
    out.mkdir()
    config = write(dict(SPACE, pruner="none", compositions=["stack"], space={"train.target_lr_head": [1e-3, 3e-3]}),
                   train={"intermediate_steps": 2, "target_steps": 30, "batch_size": 4, "checkpoint_every": 2,
                          "eval_every": 10})
    log = open(out / "first.log", "w")
    first = worker(config, data, out, None, 1, log)
    deadline = time.time() + 240
    while time.time() < deadline and not list((out / "stages").glob("target-*/checkpoint.safetensors")):
        time.sleep(0.1)
    assert list((out / "stages").glob("target-*/checkpoint.safetensors")), (out / "first.log").read_text()
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    study = optuna.load_study(study_name="experiment", storage=f"sqlite:///{out / 'search.db'}")
    assert [t.state.name for t in study.trials] == ["RUNNING"]  # killed mid-trial
    second = worker(config, data, out, None, 1, open(out / "second.log", "w"))
    assert second.wait(timeout=400) == 0, (out / "second.log").read_text()
    trials = optuna.load_study(study_name="experiment", storage=f"sqlite:///{out / 'search.db'}").trials
    assert trials[0].state.name == "FAIL"  # the killed worker's trial ...
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == 0)
    assert retry.state.name == "COMPLETE" and retry.params == trials[0].params  # ... redone with its parameters
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]  # one trial asked for, one lost and redone
    assert "its worker (pid" in (out / "second.log").read_text()
