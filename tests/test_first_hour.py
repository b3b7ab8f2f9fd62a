"""Issue 18, "the first hour": the small defects a new user meets first, one test each.

`adaptx run` with no arguments, --help examples, override errors, `zoo show` and `zoo list`,
`model export`'s folder mode, a search's output and plots, messages pointing at folders users do
not have, and `adaptx report` on an interrupted evaluation and in md/csv/json/latex.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from adaptx.cli import main
from adaptx.config import load_config
from adaptx.errors import AdaptxError

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
SHIPPED_ZOO = ROOT / "adapter_zoo"
LABELS = ["entailment", "neutral", "contradiction"]


def exits(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


# -- the command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["run", "search"])
def test_a_command_without_its_config_asks_for_the_config_not_for_overrides(command, capsys):
    code, _, err = exits([command], capsys)
    assert code == 2 and "the following arguments are required: config" in err
    assert "key=value" not in err.splitlines()[-1]  # the overrides are optional


@pytest.mark.parametrize("argv, example", [
    ([], "adaptx run configs/quickstart.yaml"), (["run"], "adaptx run configs/quickstart.yaml --out runs/short"),
    (["search"], "adaptx search configs/search-xnli.yaml"), (["report"], "adaptx report runs/quickstart --format csv"),
    (["zoo"], "adaptx zoo show qqp-e5small-s0"), (["data"], "adaptx data verify data/hub"),
    (["model"], "adaptx model export embedded"),
])
def test_help_ends_with_examples_kept_line_by_line(argv, example, capsys):
    code, out, _ = exits([*argv, "--help"], capsys)
    assert code == 0
    examples = out.split("examples:\n", 1)[1]
    assert any(line.strip().startswith(example) for line in examples.splitlines())  # not rewrapped into a paragraph


def test_an_override_error_blames_the_override_and_says_which_key_was_meant():
    with pytest.raises(AdaptxError) as typo:
        load_config(QUICKSTART, ["train.target_stpes=50"])
    message = str(typo.value)
    assert message.startswith("override 'train.target_stpes=50': train.target_stpes: unknown key")
    assert "did you mean train.target_steps" in message and "quickstart.yaml" not in message
    with pytest.raises(AdaptxError, match=r"^override 'target_steps=50': .*did you mean train.target_steps"):
        load_config(QUICKSTART, ["target_steps=50"])  # the right name in the wrong section
    with pytest.raises(AdaptxError, match=r"^override 'train.target_steps=abc': train.target_steps: expected int"):
        load_config(QUICKSTART, ["train.target_steps=abc"])
    with pytest.raises(AdaptxError, match=r"^override 'strategies=\[nothing\]': strategies\[0\]: unknown strategy"):
        load_config(QUICKSTART, ["strategies=[nothing]"])  # a rule checked with the whole config


def test_a_yaml_error_is_still_blamed_on_the_file(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("strategies: [none]\ntrain: {steps: 3}\n")
    with pytest.raises(AdaptxError, match=r"exp.yaml: train.steps: unknown key"):
        load_config(path, ["train.target_steps=5"])


def test_zoo_show_summarises_the_entry_and_prints_the_card_with_json(capsys):
    assert main(["zoo", "show", "mnli-e5small-s0", "--zoo", str(SHIPPED_ZOO)]) == 0
    out = capsys.readouterr().out
    for expected in ("kind:        intermediate", "task:        mnli", "base:        embedded, multilingual-e5-small",
                     "method:      seq_bn adapter, reduction factor 16", "English dev: accuracy 0.665 at step 900 (1000 rows)",
                     "vs trivial:  beats its trivial baseline (always entailment: 0.347): +31.8 points",
                     "budget:      1000 steps x batch 16", "dev curve:   100: 0.439, 200: 0.515", "900: 0.665*,",
                     "languages:   en", "adapter.safetensors", "files (1.5 MB)"):
        assert expected in out, expected
    assert len(out.splitlines()) < 30 and not out.lstrip().startswith("{")
    assert main(["zoo", "show", "mnli-e5small-s0", "--zoo", str(SHIPPED_ZOO), "--json"]) == 0
    card = json.loads((SHIPPED_ZOO / "mnli-e5small-s0" / "card.json").read_text())
    assert json.loads(capsys.readouterr().out) == card


def test_zoo_list_names_the_strategy_only_where_the_kind_does_not(capsys):
    from adaptx.zoo_index import kind_label

    assert main(["zoo", "list", "--zoo", str(SHIPPED_ZOO)]) == 0
    out = capsys.readouterr().out
    assert "| mnli-e5small-s0 | 2 | intermediate | mnli |" in out and "intermediate (intermediate)" not in out
    assert kind_label("target", "stack") == "target (stack)"  # none or stack: it matters
    assert kind_label("fusion", "fuse") == "fusion"


def test_model_export_writes_a_folder_others_can_read(tiny_source, tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["model", "export", "embedded", str(tmp_path / "export")]) == 0
    finally:
        os.umask(old)
    out = tmp_path / "export"
    assert out.stat().st_mode & 0o777 == 0o755  # the cache it copies from is 0700 (mkdtemp)
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in out.rglob("*") if p.is_file())


def test_messages_point_at_a_data_folder_and_the_docs_not_at_shared_data(tmp_path, capsys):
    from adaptx.data import load_split
    from adaptx.pipeline import open_run
    from adaptx.search import run_search
    from adaptx.tasks import get_task

    with pytest.raises(AdaptxError) as missing_file:
        load_split(get_task("qqp"), "train", "en", "local", tmp_path)
    with pytest.raises(AdaptxError) as missing_folder:
        open_run(load_config(QUICKSTART), tmp_path / "absent")
    no_search = tmp_path / "exp.yaml"
    no_search.write_text("strategies: [none]\n")
    with pytest.raises(AdaptxError) as search:
        run_search(no_search)
    assert main(["zoo", "verify", "--rescore", "--zoo", str(SHIPPED_ZOO)]) == 1
    rescore = capsys.readouterr().err
    assert "docs/data.md#local-data-layout" in str(missing_file.value) and "adaptx data pull qqp" in str(
        missing_file.value)
    assert "adaptx data pull" in str(missing_folder.value) and "docs/search.md" in str(search.value)
    assert "adaptx data pull" in rescore
    for text in (str(missing_file.value), str(missing_folder.value), str(search.value), rescore):
        assert "shared/data" not in text and "README" not in text


def _strings_outside_docstrings(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_message_in_the_package_names_a_folder_users_do_not_have():
    found = [f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}" for path in sorted((ROOT / "adaptx").rglob("*.py"))
             for line, text in _strings_outside_docstrings(path) if "shared/data" in text or "README '" in text]
    assert not found, found


def test_no_shipped_config_or_doc_a_user_reads_names_that_folder():
    """`adaptx config show NAME` prints these files; README and docs/ are what a user reads."""
    files = [*sorted((ROOT / "configs").rglob("*.yaml")), *sorted((ROOT / "configs").rglob("*.md")), ROOT / "README.md"]
    found = [f"{path.relative_to(ROOT)}:{n}" for path in files
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "../shared/data" in line]
    assert not found, found


# -- a search with one finished trial ------------------------------------------------------------

@pytest.fixture(scope="module")
def one_trial_search(tiny_model_dir, tmp_path_factory):
    """`adaptx search` with a single trial, as a user runs it: (stdout + stderr, study folder)."""
    from test_search import experiment
    from tiny_data import write_tiny_data

    root = tmp_path_factory.mktemp("search")
    data = write_tiny_data(root / "data")
    space = {"compositions": ["stack"], "seed": 0, "pruner": "none", "trials": 1,
             "space": {"train.target_lr_head": [1e-3, 3e-3]}}
    config = experiment(tiny_model_dir, space, intermediate_tasks=["sst2"])
    (root / "exp.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, ADAPTX_HOME=str(root / "home"), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, "-m", "adaptx", "search", str(root / "exp.yaml"), "--data-dir", str(data),
                           "--out", str(root / "run")], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr, root / "run" / "search" / "experiment"


def test_a_search_does_not_print_the_adapters_library_reload_warning(one_trial_search):
    output, folder = one_trial_search
    assert (folder / "best" / "results.md").is_file()  # the best stage was rebuilt from its folder and evaluated
    assert "Overwriting existing adapter" not in output


def test_one_finished_trial_draws_no_importances_plot(one_trial_search):
    output, folder = one_trial_search
    assert (folder / "history.png").read_bytes()[:4] == b"\x89PNG"
    assert not (folder / "importances.png").exists()
    assert "importances.png not drawn yet: it needs two finished trials that differ in a setting" in output


# -- adaptx report on an interrupted evaluation, and its formats ---------------------------------

def write_stage(run: Path, stage_id: str, strategy: str, intermediate: str | None, correct: dict[str, int],
                n: int = 12) -> list[dict]:
    """A finished target stage folder as the pipeline writes it, evaluated in the languages of `correct`
    (language -> rows right); returns the records results.json would hold for it."""
    folder = run / "stages" / f"{stage_id}-0123456789"
    (folder / "eval").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"stage": stage_id, "status": "done", "config_hash": "0123456789"}))
    (folder / "metrics.json").write_text(json.dumps({"stage": stage_id, "task": "xnli", "strategy": strategy, "seed": 0,
                                                     "intermediate": intermediate, "train": None}))
    records = []
    for lang, right in correct.items():
        gold = [LABELS[i % 3] for i in range(n)]
        pred = [g if i < right else LABELS[(i + 1) % 3] for i, g in enumerate(gold)]
        path = folder / "eval" / f"{lang}-test-abcdef1234.json"
        path.write_text(json.dumps({lang: {"ids": list(range(n)), "pred": pred, "gold": gold,
                                           "scores": {"accuracy": right / n}, "split": "test", "n": n}}))
        records.append({"task": "xnli", "strategy": strategy, "intermediate": intermediate, "language": lang,
                        "split": "test", "metric": "accuracy", "value": round(100 * right / n, 2), "seed": 0, "n": n,
                        "predictions": path.relative_to(run).as_posix()})
    return records


@pytest.fixture
def planned_run(tmp_path):
    """A run folder whose config.yaml plans none and stack (qqp) on xnli in en, de, sw; its intermediate stage done."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("intermediate_tasks: [qqp]\ntarget_task: xnli\nlanguages: [en, de, sw]\n"
                                     "strategies: [none, stack]\n")
    inter = run / "stages" / "intermediate-adapter-qqp-s0-9876543210"
    inter.mkdir(parents=True)
    (inter / "manifest.json").write_text(json.dumps({"stage": "intermediate-adapter-qqp-s0", "status": "done"}))
    (inter / "metrics.json").write_text(json.dumps({"stage": "intermediate-adapter-qqp-s0", "task": "qqp",
                                                    "strategy": "intermediate", "seed": 0, "intermediate": None}))
    return run


def table_line(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(f"| {name} |"))


def test_report_of_a_run_stopped_in_its_first_evaluation(planned_run, capsys):
    """No results.json yet: the first target stage evaluated two of three languages when it stopped."""
    write_stage(planned_run, "target-xnli-none-s0", "none", None, {"en": 9, "de": 6})
    assert main(["report", str(planned_run)]) == 0
    out = capsys.readouterr().out
    assert "| strategy | en | de |" in out and table_line(out, "none").startswith("| none | **75.0** | **50.0** |")
    assert "- target-xnli-none-s0: not evaluated in sw" in out
    assert "- target-xnli-stack-qqp-s0: not trained yet" in out


def test_report_adds_a_stage_whose_evaluation_was_interrupted(planned_run, capsys):
    records = write_stage(planned_run, "target-xnli-none-s0", "none", None, {"en": 9, "de": 6, "sw": 3})
    (planned_run / "results.json").write_text(json.dumps(records))  # written after none's whole evaluation
    write_stage(planned_run, "target-xnli-stack-qqp-s0", "stack", "qqp", {"en": 12})  # then stopped after en
    assert main(["report", str(planned_run)]) == 0
    out = capsys.readouterr().out
    assert table_line(out, "stack (qqp)").startswith("| stack (qqp) | **100.0** | – | – | – |")
    assert "- target-xnli-stack-qqp-s0: not evaluated in de, sw" in out
    assert "target-xnli-none-s0" not in out  # complete: not named


def test_report_of_a_finished_stage_that_evaluated_nothing(planned_run, capsys):
    records = write_stage(planned_run, "target-xnli-none-s0", "none", None, {"en": 9, "de": 6, "sw": 3})
    (planned_run / "results.json").write_text(json.dumps(records))
    write_stage(planned_run, "target-xnli-stack-qqp-s0", "stack", "qqp", {})
    assert main(["report", str(planned_run)]) == 0
    assert "- target-xnli-stack-qqp-s0: trained, not evaluated" in capsys.readouterr().out


@pytest.fixture
def finished_run(planned_run):
    records = write_stage(planned_run, "target-xnli-none-s0", "none", None, {"en": 9, "de": 6, "sw": 3})
    records += write_stage(planned_run, "target-xnli-stack-qqp-s0", "stack", "qqp", {"en": 12, "de": 6, "sw": 6})
    (planned_run / "results.json").write_text(json.dumps(records))
    return planned_run


def test_report_formats_carry_the_same_numbers(finished_run, capsys):
    assert main(["report", str(finished_run)]) == 0
    markdown = capsys.readouterr().out
    assert main(["report", str(finished_run), "--format", "md"]) == 0 and capsys.readouterr().out == markdown

    assert main(["report", str(finished_run), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    (table,) = summary["tables"]
    stack = next(r for r in table["rows"] if r["strategy"] == "stack")
    assert stack["values"] == {"en": 100.0, "de": 50.0, "sw": 50.0} and summary["not_evaluated"] == []

    assert main(["report", str(finished_run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    avg = next(r for r in rows if r["strategy"] == "stack" and r["column"] == "avg")
    assert float(avg["value"]) == stack["avg"]["value"] and [float(avg["lo"]), float(avg["hi"])] == stack["avg"]["interval"]
    assert avg["baseline"] == "none" and avg["verdict"] == stack["avg"]["vs_baseline"]["verdict"]
    assert {r["column"] for r in rows if r["strategy"] == "none"} == {"en", "de", "sw", "avg", "avg w/o en", "gap"}

    assert main(["report", str(finished_run), "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    assert r"\begin{tabular}{lrrrrrr}" in latex and r"\toprule" in latex and r"\bottomrule" in latex
    assert r"strategy & en & de & sw & avg & avg w/o en & gap \\" in latex
    assert r"stack (qqp) & \textbf{100.0} & \textbf{50.0} & \textbf{50.0} & \textbf{66.7} {\scriptsize [" in latex


def test_report_formats_name_what_is_not_evaluated_beside_a_csv(planned_run, capsys):
    write_stage(planned_run, "target-xnli-none-s0", "none", None, {"en": 9, "de": 6})
    assert main(["report", str(planned_run), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert "not evaluated" not in captured.out and captured.out.startswith("task,metric,strategy")
    assert "adaptx: report: not evaluated yet: target-xnli-stack-qqp-s0: not trained yet" in captured.err
    assert main(["report", str(planned_run), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["not_evaluated"] == [
        "target-xnli-none-s0: not evaluated in sw", "target-xnli-stack-qqp-s0: not trained yet"]


def test_report_of_a_smoke_run_says_so_in_every_format(finished_run, capsys):
    """Issue 34: the smoke mark survives every format, where a reader of that format keeps it."""
    config = finished_run / "config.yaml"
    config.write_text(config.read_text() + "smoke: true\n")
    assert main(["report", str(finished_run), "--format", "md"]) == 0
    assert capsys.readouterr().out.startswith("> **SMOKE RUN (--smoke):")
    assert main(["report", str(finished_run), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["smoke"] is True and "These numbers mean nothing" in summary["smoke_note"]
    assert main(["report", str(finished_run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and {r["smoke"] for r in rows} == {"SMOKE RUN: these numbers mean nothing"}
    assert main(["report", str(finished_run), "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    assert latex.startswith("% SMOKE RUN (--smoke):")
    assert r"\toprule" + "\n" + r"\multicolumn{7}{l}{\textbf{SMOKE RUN: these numbers mean nothing}} \\" in latex
    config.write_text(config.read_text().replace("smoke: true", "smoke: false"))
    assert main(["report", str(finished_run), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["smoke"] is False
    assert main(["report", str(finished_run), "--format", "csv"]) == 0
    assert "SMOKE" not in capsys.readouterr().out


def test_report_of_a_folder_with_nothing_evaluated_still_says_so(planned_run, capsys):
    assert main(["report", str(planned_run)]) == 1
    err = capsys.readouterr().err
    assert "results.json not found and no stage has been evaluated" in err
    assert "target-xnli-none-s0: not trained yet" in err


def test_zoo_show_of_a_card_with_an_odd_field_is_an_error_not_a_traceback():
    from adaptx.zoo_card import Card
    from adaptx.zoo_summary import format_card

    data = json.loads((SHIPPED_ZOO / "mnli-e5small-s0" / "card.json").read_text())
    card = Card.of(data)
    card.head.labels[:] = [f"L{i}" for i in range(300)]  # CCG-sized label sets are cut short
    assert "labels: L0, L1, L2, L3, L4, L5, L6, L7, … (300 labels)" in format_card(SHIPPED_ZOO / "mnli-e5small-s0", card)
    data["metrics"]["en_dev"] = 5
    with pytest.raises(AdaptxError, match=r"card.json: a field has an unexpected shape .*--json"):
        format_card(SHIPPED_ZOO / "mnli-e5small-s0", Card.of(data))


@pytest.mark.parametrize("extra, message", [
    ([], "data.source is local but no data folder is set"),
    (["--data-dir", "absent-folder"], "data folder absent-folder does not exist"),
])
def test_a_run_without_its_data_folder_is_refused_before_torch_loads(tmp_path, extra, message):
    """The answer to a missing data folder comes before torch and the model load (seconds, not tens)."""
    code = ("import sys\nfrom adaptx.cli import main\n"
            f"rc = main(['run', 'xtreme/xnli', *{extra!r}])\nprint('rc', rc, 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "rc 1 False" in done.stdout, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
