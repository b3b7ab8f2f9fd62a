"""What a run says and records: -q/-v, run.log, TQDM_DISABLE, the training loss per evaluation in
metrics.json, the remaining-time estimate, --tensorboard without the package, and --smoke."""

import importlib.util
import io
import json
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from adaptx import logs
from adaptx.cli import main
from adaptx.progress import RunMonitor, StageMonitor, duration
from adaptx.smoke import NOTE
from tiny_data import write_tiny_data

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def normal_verbosity():
    yield
    logs.configure(logs.NORMAL)  # a test's -q must not leak into the next


@pytest.fixture
def tiny_run(tmp_path, tiny_model_dir, adaptx_home):
    """A config (two strategies, 4 steps each, an evaluation every 2), its data and output folder."""
    data = write_tiny_data(tmp_path / "data")
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"], "target_task": "xnli",
        "languages": ["en", "de"], "strategies": ["none", "stack"], "max_seq_length": 16,
        "train": {"intermediate_steps": 4, "target_steps": 4, "batch_size": 4, "eval_every": 2,
                  "checkpoint_every": 2},
        "data": {"max_eval_examples": 6, "max_dev_examples": 6}}))
    return config, data, tmp_path / "run"


def test_a_resumed_run_estimates_evaluations_from_what_earlier_runs_recorded(tiny_run, capsys):
    config, data, out = tiny_run
    first = config.parent / "first.yaml"
    first.write_text(yaml.safe_dump(dict(yaml.safe_load(config.read_text()), strategies=["none"])))
    assert main(["run", str(first), "--data-dir", str(data), "--out", str(out)]) == 0
    capsys.readouterr()
    # the same folder with `stack` added: `none` is done, and its evaluation files say what evaluating cost
    assert main(["run", str(config), "--data-dir", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    estimates = [line for line in printed.splitlines() if "left in the run" in line]
    assert estimates and not any("not timed yet" in line for line in estimates), estimates


def test_training_loss_is_recorded_at_every_evaluation_in_metrics_json(tiny_run):
    config, data, out = tiny_run
    assert main(["run", str(config), "--data-dir", str(data), "--out", str(out)]) == 0
    folders = sorted((out / "stages").glob("*-s0-*"))
    assert len(folders) == 3  # the qqp adapter, none, stack
    for folder in folders:
        history = json.loads((folder / "metrics.json").read_text())["train"]["history"]
        assert [h["step"] for h in history] == [2, 4]
        losses = [h["train_loss"] for h in history]
        # the mean loss of the steps since the previous evaluation: a cross-entropy, so finite and > 0
        assert all(isinstance(x, float) and math.isfinite(x) and x > 0 for x in losses), losses


def test_quiet_prints_the_table_only_and_run_log_keeps_every_line_plainly(tiny_run, capsys):
    config, data, out = tiny_run
    assert main(["-q", "run", str(config), "--data-dir", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| strategy | en | de |" in printed  # the result is shown under -q
    assert "en dev" not in printed and "[estimate]" not in printed  # progress lines are not
    log = (out / "run.log").read_text(encoding="utf-8")
    assert "\r" not in log
    assert "target-xnli-none-s0: step 2/4: train loss" in log  # run.log keeps INFO even under -q
    assert "| strategy | en | de |" in log
    first = log.splitlines()[0]
    time.strptime(first[:19], "%Y-%m-%d %H:%M:%S")  # every line starts with its time


def test_normal_verbosity_prints_progress_and_the_rerun_appends_to_run_log(tiny_run, capsys):
    config, data, out = tiny_run
    assert main(["run", str(config), "--data-dir", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "target-xnli-none-s0: step 2/4: train loss" in printed and "[estimate]" in printed
    size = (out / "run.log").stat().st_size
    assert main(["run", str(config), "--data-dir", str(data), "--out", str(out)]) == 0  # all stages reused
    assert (out / "run.log").stat().st_size > size
    rerun = capsys.readouterr().out
    assert "adaptx: all 3 stages done before (" in rerun and "finished in" not in rerun  # not "finished in 0s"


def test_verbose_shows_debug_lines_and_the_libraries_warnings():
    logs.configure(logs.VERBOSE)
    assert logs.LOGGER.isEnabledFor(logging.DEBUG)
    assert logging.getLogger("adapters").getEffectiveLevel() == logging.WARNING
    logs.configure(logs.QUIET)
    assert not logs.LOGGER.isEnabledFor(logging.DEBUG)
    assert logging.getLogger("adapters").getEffectiveLevel() == logging.ERROR  # "Overwriting ..." hidden


def test_quiet_and_verbose_go_before_or_after_the_command(capsys):
    from adaptx.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["-q", "report", "x"]).verbosity == logs.QUIET
    assert parser.parse_args(["report", "x", "-v"]).verbosity == logs.VERBOSE
    assert parser.parse_args(["report", "x"]).verbosity == logs.NORMAL
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "x", "-q", "-v"])  # one or the other
    assert "not allowed with argument" in capsys.readouterr().err


BAR_PROBE = """
import sys
class Terminal:
    def __init__(self, stream): self.stream = stream
    def isatty(self): return True
    def write(self, text): return self.stream.write(text)
    def flush(self): self.stream.flush()
sys.stderr = Terminal(sys.stderr)
from tqdm import tqdm
from adaptx import logs
logs.configure(int(sys.argv[1]))
print(tqdm(range(3), **logs.bar_options()).disable)
"""


@pytest.mark.parametrize("env, verbosity, disabled", [
    ({}, logs.NORMAL, False), ({"TQDM_DISABLE": "1"}, logs.NORMAL, True), ({}, logs.QUIET, True)])
def test_progress_bars_follow_tqdm_disable_and_quiet(env, verbosity, disabled):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")} | env
    done = subprocess.run([sys.executable, "-c", BAR_PROBE, str(verbosity)], capture_output=True, text=True,
                          env=environ, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(disabled)


def test_no_bar_is_drawn_where_standard_error_is_not_a_terminal():
    assert logs.bar_options() == {"disable": True}  # pytest captures stderr: not a terminal
    assert logs.bar_options(rank=1) == {"disable": True}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_estimate_covers_this_stage_and_the_later_ones_at_their_measured_speed(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("adaptx.progress.time.perf_counter", clock)
    run = RunMonitor([("a", "adapter", 10), ("b", "fusion", 20), ("c", "adapter", 30)])
    with run.stage("a"):  # a finished adapter stage: 10 steps in 20 s -> 2 s/step for adapter stages
        clock.now = 20.0
    assert run.rates == {"adapter": 2.0} and "a" not in run.steps

    lines = []
    monkeypatch.setattr("adaptx.progress.logs.info", lines.append)
    monitor = run.stage_monitor("b")
    monitor.start(0, 20)
    for step in range(1, 6):  # fusion: 5 s/step from the first timed step on
        monitor.stepped(step, 1.0)
        clock.now += 5.0
    line, = lines  # printed once, after 3 timed steps
    # at step 4: 16 fusion steps left x 5 s = 80 s; stage c: 30 adapter steps x 2 s = 60 s; 140 s ~ 2 min
    assert "b: step 4/20, 5.00 s/step: about 80 s left in this stage" in line
    assert "about 2 min left in the run (30 more training steps in later stages)" in line
    assert "assumed" not in line


def test_english_dev_evaluations_are_counted_apart_so_the_rate_holds_steady_after_a_resume(monkeypatch):
    """A stage resumed at step 25 of 150 timed 4 steps, then an English-dev evaluation of 10 s: the rate
    stays 1 s/step (it read 3.5 s/step when the evaluation counted as steps, and the run's estimate
    jumped fourfold), and the 4 evaluations still ahead (steps 60, 90, 120, 150) count 10 s each."""
    clock, lines = Clock(), []
    monkeypatch.setattr("adaptx.progress.time.perf_counter", clock)
    monkeypatch.setattr("adaptx.progress.logs.info", lines.append)
    run = RunMonitor([("a", "adapter", 150), ("b", "fusion", 100)])
    with run.stage("a"):
        monitor = run.stage_monitor("a")
        monitor.start(25, 150, eval_every=30)
        for step in range(26, 31):
            clock.now += 1.0
            monitor.stepped(step, 1.0)
        clock.now += 10.0
        monitor.evaluated(30, "accuracy", 0.5, 0.7)
        assert monitor.rate(30) == 1.0 and monitor.dev_ahead(30) == 40.0
        # here: 120 steps x 1 s + 40 s; b (fusion, not timed): 100 steps at 1 s + 10 s / 30 steps of English dev
        assert "1.00 s/step: about 3 min left in this stage, about 5 min left in the run" in lines[-1]  # 160 s + 133 s
        for step in range(31, 35):
            clock.now += 1.0
            monitor.stepped(step, 1.0)
        assert monitor.rate(34) == 1.0  # the evaluation is not spread over the steps after it either
        monitor.close()
    assert run.rates["adapter"] == 18.0 / 8  # a finished stage's rate keeps its evaluations: later stages pay them


def test_stages_of_an_auto_budget_are_counted_at_their_step_limit_and_the_estimate_says_so(monkeypatch):
    clock, lines = Clock(), []
    monkeypatch.setattr("adaptx.progress.time.perf_counter", clock)
    monkeypatch.setattr("adaptx.progress.logs.info", lines.append)
    plan = [("a", "adapter", 100, False, True), ("b", "adapter", 150, False), ("c", "adapter", 2000, True, True),
            ("d", "adapter", 2000, True, True)]
    monitor = StageMonitor("a", RunMonitor(plan))
    monitor.start(0, 100)
    for step in range(1, 5):
        monitor.stepped(step, 1.0)
        clock.now += 1.0
    text, = lines
    assert "about 2 min left in this stage at most" in text  # a: auto itself, 96 s
    assert "2 stages of an `auto` budget counted at the step limit" in text  # c and d; b trains its 150 steps
    lines.clear()
    monitor = StageMonitor("b", RunMonitor(plan[1:2]))
    monitor.start(0, 150)
    for step in range(1, 5):
        monitor.stepped(step, 1.0)
        clock.now += 1.0
    assert "at most" not in lines[-1] and "auto" not in lines[-1]


def test_a_kind_not_yet_timed_is_assumed_as_fast_and_the_estimate_says_so(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("adaptx.progress.time.perf_counter", clock)
    lines = []
    monkeypatch.setattr("adaptx.progress.logs.info", lines.append)
    monitor = StageMonitor("a", RunMonitor([("a", "adapter", 8), ("b", "full", 50)]))
    monitor.start(0, 8)
    for step in range(1, 5):
        monitor.stepped(step, 1.0)
        clock.now += 1.0
    text, = lines  # at step 4: 1 s/step; 4 steps left here and 50 full-model steps, not yet timed
    assert "about 54 s left in the run" in text and "kinds not yet timed assumed this fast" in text


def _train(run, stage_id, steps, seconds_per_step, clock, load=5.0, evaluation=None, save=1.0):
    """One stage as the pipeline runs it, on a fake clock: load, train (timed steps), evaluate, save."""
    with run.stage(stage_id):
        clock.now += load
        monitor = run.stage_monitor(stage_id)
        monitor.start(0, steps)
        for step in range(1, steps + 1):
            clock.now += seconds_per_step
            monitor.stepped(step, 1.0)
        monitor.close()
        clock.now += save
        if evaluation is not None:
            with run.evaluation():
                clock.now += evaluation


def test_the_run_estimate_learns_loading_and_evaluation_times_from_the_first_stages(monkeypatch):
    """Issue 34: stages of different kinds (adapter, fusion, full model), two of them evaluated zero-shot.
    The first estimate already counts each later stage's loading (timed in the first stage) and says
    which evaluations it could not time yet; once a stage has been evaluated, its time counts too."""
    clock, lines = Clock(), []
    monkeypatch.setattr("adaptx.progress.time.perf_counter", clock)
    monkeypatch.setattr("adaptx.progress.logs.info", lines.append)
    run = RunMonitor([("a", "adapter", 10, False), ("b", "fusion", 20, True), ("c", "full", 20, True)])
    _train(run, "a", 10, 1.0, clock)
    # at step 4 of a: 1 s/step; 6 steps here; b and c: 40 steps at 1 s (kinds guessed) + 5 s loading each
    assert ("about 6 s left in this stage, about 56 s left in the run (40 more training steps in later stages; "
            "kinds not yet timed assumed this fast; about 5 s per stage to load and save; 2 zero-shot evaluations "
            "not timed yet, left out)") in lines[-1]
    assert run.rates == {"adapter": 1.0} and run.setups == [6.0]  # 16 s in all: 10 steps, 5 s loading, 1 s saving

    _train(run, "b", 20, 2.0, clock, evaluation=12.0)
    # at step 4 of b: 16 steps x 2 s here; c: 20 steps at 2 s (guessed) + 6 s loading and saving
    assert "about 32 s left in this stage, about 78 s left in the run (20 more training steps" in lines[-1]
    assert "1 zero-shot evaluation not timed yet" not in lines[-1] and "2 zero-shot evaluations" in lines[-1]
    assert run.evaluations == [12.0] and run.setups == [6.0, 6.0]

    _train(run, "c", 20, 3.0, clock, evaluation=12.0)
    # at step 4 of c: 16 steps x 3 s + its evaluation, timed in b: 12 s; no later stages
    assert lines[-1].endswith("3.00 s/step: about 60 s left in this stage [estimate]")
    assert run.steps == {}


def test_a_rerun_with_every_stage_done_says_so_instead_of_finished_in_0s():
    run = RunMonitor([], done_before=(7, 22.4))
    line = run.finished_line(0.2, "runs/quickstart-smoke")
    assert line.startswith("adaptx: all 7 stages done before (22 s of training in earlier runs); nothing left to train")
    assert "finished in" not in line
    line = RunMonitor([("a", "adapter", 3)], done_before=(1, 30.0)).finished_line(95, "r")
    assert line.startswith("adaptx: finished in 2 min; 1 stage done before (30 s of training in earlier runs)")


@pytest.mark.parametrize("seconds, text", [(44.6, "45 s"), (720, "12 min"), (7500, "2 h 05 min")])
def test_durations_read_like_a_person_would_say_them(seconds, text):
    assert duration(seconds) == text


def test_tensorboard_without_the_package_is_a_one_line_answer(tiny_run, capsys, monkeypatch):
    if importlib.util.find_spec("tensorboard") is not None:  # not a dependency of adaptx
        pytest.skip("tensorboard is installed here: the error this test checks cannot happen")
    config, data, out = tiny_run
    assert main(["run", str(config), "--data-dir", str(data), "--out", str(out), "--tensorboard"]) == 1
    err = capsys.readouterr().err
    assert "--tensorboard needs the tensorboard package" in err and "pip install tensorboard" in err
    assert not out.exists()  # refused before anything was written


def test_smoke_runs_every_strategy_into_its_own_folder_and_says_its_numbers_mean_nothing(tmp_path, tiny_model_dir,
                                                                                          adaptx_home, capsys):
    data = write_tiny_data(tmp_path / "data")
    config = tmp_path / "exp.yaml"
    strategies = ["none", "stack", "fuse", "full", "full-none"]
    config.write_text(yaml.safe_dump({
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"], "target_task": "xnli",
        "strategies": strategies, "languages": ["en", "sw", "de"], "max_seq_length": 16, "output_dir": str(tmp_path / "real"),
        "fusion": {"include_target_adapter": True},
        "train": {"intermediate_steps": 500, "target_steps": 900, "batch_size": 16}}))
    assert main(["run", str(config), "--data-dir", str(data), "--smoke"]) == 0
    printed = capsys.readouterr().out
    assert NOTE in printed
    assert not (tmp_path / "real").exists()  # real results are never mixed with a smoke run's
    out = tmp_path / "real-smoke"
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["smoke"] is True and saved["train"]["target_steps"] == 2
    assert saved["full_save_dtype"] == "bf16"  # half the disk while a full-model stage's weights are kept
    assert saved["full_frozen_embeddings"] is True  # and without the word embeddings (they stay the base's)
    assert NOTE in (out / "results.md").read_text()
    records = json.loads((out / "results.json").read_text())
    assert {r["strategy"] for r in records} == set(strategies)
    assert {r["language"] for r in records} == {"en", "sw"}  # English and the config's first other language
    for folder in (out / "stages").iterdir():
        assert json.loads((folder / "metrics.json").read_text())["train"]["history"][-1]["step"] == 2


@pytest.mark.parametrize("targets, languages", [
    ("xnli", ["en", "ar"]),
    ("tatoeba", ["af"]),  # Tatoeba and BUCC pair each language with English and list only the other
    ("bucc", ["de"]),
    ("[xnli, tatoeba]", ["en", "ar", "af"]),
])
def test_a_smoke_run_takes_english_only_where_its_targets_have_it(targets, languages):
    from adaptx.config import load_config
    from adaptx.shipped import resolve_config
    from adaptx.smoke import smoke_languages, smoke_overrides

    cfg = load_config(resolve_config("quickstart"), [f"target_task={targets}"])
    assert smoke_languages(cfg) == languages
    smoke = load_config(resolve_config("quickstart"), [f"target_task={targets}", *smoke_overrides(cfg)])
    assert smoke.languages == languages  # the overrides load: every language is one a target offers
    # BUCC mines among its sampled sources (~3% have a gold partner): enough rows to meet the 2 it needs
    assert smoke.data.max_eval_examples == (300 if "bucc" in targets else 8)


def test_the_saved_config_records_the_out_folder_the_run_used(tiny_run):
    config, data, out = tiny_run
    assert main(["-q", "run", str(config), "--data-dir", str(data), "--out", str(out), "strategies=[none]"]) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert Path(saved["output_dir"]).resolve() == out.resolve()  # not the YAML's default runs/<name>


def test_data_verify_takes_the_builtin_pack_by_the_name_configs_use(capsys):
    assert main(["data", "verify", "builtin:quickstart"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("builtin:quickstart: ") and printed.rstrip().endswith("all match")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_long_lines_wrap_on_a_terminal_only(monkeypatch):
    """A terminal gets lines no wider than itself (continuations indented); files, pipes and run.log keep
    one line per message, and results tables are never wrapped."""
    import shutil

    from adaptx.logs import for_terminal

    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=None: os.terminal_size((80, 24)))
    line = "  target-xnli-none-s0: step 30/150: " + "train loss 1.1154, en dev accuracy 0.3500; " * 8
    table = "| language | none | " + "stack (zoo:mnli-e5small-s0) | " * 5
    wrapped = for_terminal(f"{line}\n{table}", _Terminal()).split("\n")
    assert len(wrapped) > 2 and all(len(w) <= 79 for w in wrapped[:-1]) and wrapped[-1] == table
    assert all(w.startswith("    ") for w in wrapped[1:-1])  # two spaces past the line's own indent
    assert " ".join(w.strip() for w in wrapped[:-1]) == line.strip()  # nothing lost
    assert for_terminal(line, io.StringIO()) == line  # not a terminal: untouched
