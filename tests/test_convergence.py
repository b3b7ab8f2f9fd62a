"""Training until English dev stops improving (`train.target_steps: auto`), and the convergence
record every stage carries: scripted dev curves (plateau, still rising, noisy) on a tiny model."""

import pytest

import adaptx.train as train_module
from adaptx.config import load_config
from adaptx.errors import AdaptxError
from adaptx.plan import plan_stages
from adaptx.train import train_model
from test_train import fresh_model, job, toy_data


def scripted(monkeypatch, curve):
    """English dev scores follow `curve` (one per evaluation; the last repeats)."""
    scores = iter(curve)
    last = [curve[-1]]

    def scripted_predict(model, dev, pad_id, **kwargs):
        score = next(scores, last[0])
        right = round(score * len(dev.labels))
        return [y if i < right else (y + 1) % 3 for i, y in enumerate(dev.labels)]

    monkeypatch.setattr(train_module, "predict", scripted_predict)


def run(tiny_model_dir, tmp_path, **kw):
    data = toy_data(n=40)
    return train_model(fresh_model(tiny_model_dir), data, data, job(**kw), 1, tmp_path / "ckpt.safetensors")


def test_a_plateau_stops_by_patience_and_converges(tiny_model_dir, tmp_path, monkeypatch):
    scripted(monkeypatch, [0.3, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6])
    summary = run(tiny_model_dir, tmp_path, steps=100, eval_every=2, patience=3)
    # best at the 3rd evaluation (step 6); three evaluations without improvement: stop at step 12
    assert (summary["steps"], summary["best_step"], summary["max_steps"]) == (12, 6, 100)
    assert summary["converged"] is True and summary["budget"] == "auto"
    assert "stopped by patience (3 evaluations without improvement)" in summary["convergence"]
    assert [h["step"] for h in summary["history"]] == [2, 4, 6, 8, 10, 12]


def test_a_curve_still_rising_at_the_limit_has_not_converged(tiny_model_dir, tmp_path, monkeypatch):
    scripted(monkeypatch, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    summary = run(tiny_model_dir, tmp_path, steps=12, eval_every=2, patience=3)
    assert (summary["steps"], summary["best_step"], summary["converged"]) == (12, 12, False)
    assert "reached its step limit (12) while English dev was still improving" in summary["convergence"]


def test_noise_smaller_than_min_improvement_does_not_reset_patience(tiny_model_dir, tmp_path, monkeypatch):
    # 40 dev rows: a score moves in steps of 0.025; +0.025 wiggles are noise under min_improvement 0.05
    curve = [0.3, 0.6, 0.625, 0.6, 0.625, 0.65, 0.6, 0.9]
    scripted(monkeypatch, curve)
    summary = run(tiny_model_dir, tmp_path, steps=100, eval_every=2, patience=4, min_improvement=0.05)
    assert summary["steps"] == 12 and summary["converged"] is True  # the late 0.9 is never reached
    assert summary["best_step"] == 12  # the best score seen is still the one kept (0.65 at step 12)
    scripted(monkeypatch, curve)
    (tmp_path / "strict").mkdir()
    strict = run(tiny_model_dir, tmp_path / "strict", steps=100, eval_every=2, patience=4)
    assert (strict["steps"], strict["best_step"]) == (24, 16)  # without the threshold the wiggles count


def test_a_fixed_budget_converges_only_where_auto_would_have_stopped(tiny_model_dir, tmp_path, monkeypatch):
    """A fixed budget counts as converged where its best came PATIENCE (5) evaluations before its last, as
    `auto` with its default patience would have stopped; one dip after the peak is not enough (XNLI's `none`
    at 150 steps peaked at step 90 of 150, then went on to its best at step 1,000 under `auto`)."""
    scripted(monkeypatch, [0.2, 0.9, 0.5])
    dipped = run(tiny_model_dir, tmp_path, steps=12, eval_every=4)
    assert (dipped["converged"], dipped["budget"]) == (False, 12)
    assert dipped["convergence"].startswith("English dev peaked at step 8 of 12, 1 evaluation before its last")
    scripted(monkeypatch, [0.2, 0.5, 0.9])
    (tmp_path / "b").mkdir()
    rising = run(tiny_model_dir, tmp_path / "b", steps=12, eval_every=4)
    assert (rising["converged"], rising["convergence"]) == (False, "still improving at its last step")
    scripted(monkeypatch, [0.2, 0.9, 0.5, 0.6, 0.9, 0.7, 0.8])  # a tie is no improvement
    (tmp_path / "c").mkdir()
    flat = run(tiny_model_dir, tmp_path / "c", steps=14, eval_every=2)
    assert (flat["converged"], flat["convergence"]) == (
        True, "English dev peaked at step 4 of 14, then 5 evaluations without improvement")


def test_a_recorded_fixed_budget_verdict_is_judged_again_and_an_auto_one_is_kept():
    from adaptx.config import AutoBudget
    from adaptx.convergence import PATIENCE, of_card, of_training

    assert PATIENCE == AutoBudget().patience  # the rule is `auto`'s default
    curve = [{"step": s, "dev_score": v} for s, v in [(30, 0.45), (60, 0.47), (90, 0.486), (120, 0.48), (150, 0.47)]]
    # banked under the earlier rule (a peak before the last evaluation counted as converged)
    old = {"steps": 150, "budget": 150, "converged": True, "convergence": "English dev peaked at step 90 of 150",
           "history": curve}
    assert of_training(old)["converged"] is False
    auto = {"steps": 800, "budget": "auto", "converged": True, "convergence": "stopped by patience", "history": curve}
    assert of_training(auto) == {"converged": True, "convergence": "stopped by patience"}  # its own patience (4)
    card = {"steps": 1000, "steps_trained": 1000, "converged": True, "dev_curve": [[p["step"], p["dev_score"]]
                                                                                   for p in curve]}
    assert of_card(card)["converged"] is False  # trained to its limit: judged by its curve
    assert of_card({**card, "steps_trained": 600, "convergence": "stopped by patience"})["converged"] is True


def test_a_resume_counts_patience_from_the_checkpointed_curve(tiny_model_dir, tmp_path, monkeypatch):
    scripted(monkeypatch, [0.5, 0.5, 0.5])
    first = run(tiny_model_dir, tmp_path, steps=100, eval_every=2, patience=2, checkpoint_every=2)
    assert first["steps"] == 6 and first["converged"]  # evaluations 4 and 6 did not improve on 2
    # the checkpoint of step 4 is still there (the pipeline removes it once the stage is saved): a
    # rerun resumes at step 4 with its history and stops at the same step
    scripted(monkeypatch, [0.5])
    again = run(tiny_model_dir, tmp_path, steps=100, eval_every=2, patience=2, checkpoint_every=2)
    assert again["steps"] == 6 and [h["step"] for h in again["history"]] == [2, 4, 6]


QUICK = ["intermediate_tasks=[qqp]", "strategies=[none, stack, fuse]", "target_task=xnli",
         "fusion.include_target_adapter=true"]


def test_a_budget_sweep_plans_one_stage_per_budget_and_keeps_single_budget_ids():
    single = {s.id for s in plan_stages(load_config(None, QUICK + ["train.target_steps=150"]))}
    assert "target-xnli-none-s0" in single and not any("-b150" in s for s in single)
    sweep = plan_stages(load_config(None, QUICK + ["train.target_steps=[150, auto]"]))
    targets = [s for s in sweep if s.kind == "target"]
    assert {s.budget for s in targets} == {150, "auto"}
    ids = {s.id for s in targets}
    assert {"target-xnli-none-s0-b150", "target-xnli-none-s0-auto", "target-xnli-stack-qqp-s0-auto"} <= ids
    fuse = next(s for s in targets if s.strategy == "fuse" and s.budget == "auto")
    assert fuse.adapters["xnli"] == "target-xnli-none-s0-auto"  # fused with the target adapter of its own budget
    intermediates = [s for s in sweep if s.kind != "target"]
    assert len(intermediates) == 1  # trained once, whatever the target budgets
    alone = {s.id for s in plan_stages(load_config(None, QUICK + ["train.target_steps=auto"]))}
    assert "target-xnli-none-s0-auto" in alone


def test_auto_settings_reach_the_training_job_and_only_then_the_recipe():
    from adaptx.stage_recipe import StageRecipes

    cfg = load_config(None, QUICK + ["train.target_steps=[150, auto]", "train.auto.patience=4",
                                     "train.auto.max_steps=900", "train.auto.eval_every=30"])
    assert cfg.train.eval_interval("auto") == 30 and cfg.train.eval_interval(150) == 30
    stages = {s.id: s for s in plan_stages(cfg)}

    class Data:  # the parts of RunData job_for reads
        def trained_task(self, stage):
            return stage.task

        def task(self, name):
            from adaptx.tasks import get_task
            return get_task(name)

    recipes = StageRecipes.__new__(StageRecipes)
    recipes.cfg, recipes.data, recipes.lr_defaults = cfg, Data(), {
        "lr_adapter": 1e-3, "lr_fusion": 1e-3, "lr_full": 5e-5, "lr_head": 1e-3}
    auto = recipes.job_for(stages["target-xnli-none-s0-auto"])
    fixed = recipes.job_for(stages["target-xnli-none-s0-b150"])
    assert (auto.steps, auto.patience, auto.eval_every) == (900, 4, 30)
    assert (fixed.steps, fixed.patience) == (150, None)


@pytest.mark.parametrize("overrides, message", [
    (["train.target_steps=[150, auto]", "train.target_epochs=2"],
     "train.target_epochs: 2.0 overrides every target budget"),
])
def test_a_budget_sweep_with_an_epoch_budget_is_refused(overrides, message):
    with pytest.raises(AdaptxError, match=message):
        load_config(None, QUICK + overrides)


def test_a_budget_sweep_end_to_end_marks_rows_and_plots_gain_against_budget(tmp_path, tiny_model_dir, adaptx_home, capsys):
    """A tiny run with target_steps [2, auto]: one results table per budget, each record carries the
    stage's budget, trained steps and convergence, the MNLI row under XNLI is marked § (XNLI trains on
    English MNLI), and `adaptx analyze` lines each row's gain up across the budgets."""
    import json

    import yaml

    from adaptx import pipeline
    from adaptx.analysis.analyze import analyze
    from tiny_data import write_tiny_data

    data = write_tiny_data(tmp_path / "data")
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["mnli", "qqp"], "target_task": "xnli",
        "languages": ["en", "de", "sw"], "strategies": ["none", "stack"], "max_seq_length": 16,
        "train": {"intermediate_steps": 4, "target_steps": [2, "auto"], "batch_size": 4, "checkpoint_every": 1,
                  "auto": {"eval_every": 1, "patience": 2, "max_steps": 6}},
        "data": {"max_eval_examples": 6, "max_dev_examples": 6}}))
    out = tmp_path / "run"
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    records = json.loads((out / "results.json").read_text())
    assert {r["budget"] for r in records} == {2, "auto"}
    fixed = [r for r in records if r["budget"] == 2]
    assert all(r["steps"] == 2 for r in fixed)
    auto = [r for r in records if r["budget"] == "auto"]
    assert all(3 <= r["steps"] <= 6 and isinstance(r["converged"], bool) for r in auto)
    mnli = [r for r in records if r["intermediate"] == "mnli"]
    assert mnli and all(r["same_data"] == ["mnli"] for r in mnli)
    assert not any("same_data" in r for r in records if r["intermediate"] != "mnli")
    text = (out / "results.md").read_text()
    assert "target budget: 2 steps" in text and "target budget: auto (until English dev stopped improving)" in text
    assert "| stack (mnli)" in text and "§ = the intermediate task trained on the target's own English" in text
    assert all(line.startswith("| stack (mnli)") == ("§" in line.split("|")[1])
               for line in text.splitlines() if line.startswith("| stack ("))
    # every stage trained here, on the same kernels: each record names them, and no note about them
    assert len({r["kernels"] for r in records}) == 1 and records[0]["kernels"].startswith("cpu, oneDNN ")
    assert "different kernels" not in text
    # a study banked across machines: the table says which rows trained on which kernels
    other = "cpu, oneDNN AVX512_CORE_AMX, ATen AVX512"
    moved = [dict(r, kernels=other) if r["intermediate"] == "mnli" else r for r in records]
    (out / "results.json").write_text(json.dumps(moved))
    capsys.readouterr()
    from adaptx.cli import main

    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"stages trained on different kernels ({records[0]['kernels']}: none, stack (qqp); {other}: stack (mnli))" in printed
    (out / "results.json").write_text(json.dumps(records))
    a = analyze([out], draw_plots=True)
    assert {t.name for t in a.targets} == {"xnli @2", "xnli @auto"}
    md = (a.out / "analysis.md").read_text()
    assert "## Gain against target budget" in md and "| stack (qqp) |" in md
    assert (a.out / "plots" / "budget-xnli-accuracy.png").is_file()
    assert any("stack (mnli) trained on the target's own English data" in m for m in a.messages)
    assert not any(f.row == "stack (mnli)" for f in a.findings)

    # an evaluation interrupted in the `auto` stage of stack (qqp): de evaluated, sw not, results.json not yet
    # rewritten. `adaptx report` puts the de row in the auto table (not a third table without a budget), and
    # names that stage alone as lacking sw (the 2-step stage of the same row is complete)
    from adaptx.report import print_report

    stage = next((out / "stages").glob("target-xnli-stack-qqp-s0-auto-*"))
    (sw_file,) = (stage / "eval").glob("sw-*.json")
    sw_file.unlink()
    kept = [r for r in records if not r["predictions"].startswith(f"stages/{stage.name}/")]
    (out / "results.json").write_text(json.dumps(kept))
    import contextlib
    import io
    printed, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
        assert print_report(out) == 0
    report = printed.getvalue()
    assert report.count("zero-shot accuracy (%)") == 2  # one table per budget, no third
    auto_table = report.split("target budget: auto")[1]
    qqp_row = next(line for line in auto_table.splitlines() if line.startswith("| stack (qqp)"))
    assert qqp_row.split("|")[4].strip() == "–" and qqp_row.split("|")[3].strip() != "–"  # sw lacks, de is there
    assert "- target-xnli-stack-qqp-s0-auto: not evaluated in sw" in report
    assert "target-xnli-stack-qqp-s0-b2" not in report
    with contextlib.redirect_stdout(printed := io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        print_report(out, "csv")
    rows = printed.getvalue().splitlines()
    assert rows[0].startswith("task,metric,strategy,intermediate,seeds,budget,column")
    assert {line.split(",")[5] for line in rows[1:]} == {"2", "auto"}


def test_the_xtreme_summary_of_a_budget_sweep_is_its_largest_budget_with_two_tasks_and_says_so():
    from adaptx.report_xtreme import sweep_xtreme_summary

    def table(task, budget, avg):
        return {"task": task, "metric": "accuracy", "budget": budget, "languages": ["en", "de"],
                "rows": [{"strategy": "none", "intermediate": None, "avg": {"value": avg}}]}

    partial = [table("xnli", 150, 47.0), table("pawsx", 150, 56.0), table("xnli", "auto", 63.0)]
    summary = sweep_xtreme_summary(partial, {})  # PAWS-X has no `auto` table yet: the 150-step summary
    assert summary["budget"] == 150 and summary["rows"][0]["tasks"] == {"xnli": 47.0, "pawsx": 56.0}
    summary = sweep_xtreme_summary([*partial, table("pawsx", "auto", 80.0), table("pawsx", 600, 70.0)], {})
    assert summary["budget"] == "auto" and summary["rows"][0]["tasks"] == {"xnli": 63.0, "pawsx": 80.0}
    assert "budget" not in sweep_xtreme_summary([table("xnli", None, 47.0), table("pawsx", None, 56.0)], {})


def test_the_marks_and_the_budget_reading_from_recorded_facts():
    from adaptx.analysis.budget import budget_points, reading
    from adaptx.analysis.gains import ZERO_SHOT_AVERAGE, Cell
    from adaptx.convergence import from_curve, of_card
    from adaptx.report import row_facts, row_marks

    seeds = [{"converged": True, "intermediate_converged": False, "steps": 300},
             {"converged": False, "intermediate_converged": False, "steps": 2000, "same_data": ["mnli"]}]
    facts = row_facts(seeds)
    assert facts == {"converged": False, "intermediate_converged": False, "steps": [300, 2000], "same_data": ["mnli"],
                     "kernels": []}
    assert row_marks(facts) == "†‡§"
    assert row_marks(row_facts([{"converged": True}, {}])) == ""  # unknown (older records): no mark
    assert from_curve([[100, 0.5], [200, 0.6]])["converged"] is False
    assert from_curve([{"step": 1, "dev_score": 0.7}, {"step": 2, "dev_score": 0.6}])["converged"] is False
    assert from_curve([{"step": s, "dev_score": 0.7 if s == 1 else 0.6} for s in range(1, 7)])["converged"] is True
    assert of_card({"converged": True, "convergence": "stopped by patience"})["converged"] is None  # no curve
    assert of_card({"dev_curve": "junk"})["converged"] is None

    def cell(budget, gain, lo, hi, steps=""):
        return Cell(f"xnli @{budget}", "accuracy", "stack", "qqp", ZERO_SHOT_AVERAGE, [0], 10, 50.0, 45.0, 55.0,
                    "none", 40.0, gain, lo, hi, "better", budget=budget, steps=steps)

    points = budget_points([cell("auto", 0.5, -1.0, 2.0, "400-800"), cell(150, 10.0, 8.0, 12.0, "150")])
    (key, pts), = points.items()
    assert key == ("xnli", "accuracy", "stack (qqp)") and [p["budget"] for p in pts] == [150, "auto"]
    assert pts[1]["steps"] == 600.0  # auto stands at the mean of the steps its seeds trained
    assert reading(pts).startswith("shrinks (+10.0 at 150 steps -> +0.5 at auto (400-800 steps)")
    assert budget_points([cell(150, 10.0, 8.0, 12.0)]) == {}  # one budget: nothing to line up


def test_same_data_rows_are_left_out_of_the_typology_reading_unless_asked():
    from adaptx.analysis.study import findings
    from adaptx.analysis.runs import Target

    target = Target("xnli", "accuracy", rows={"stack (mnli)": {}, "stack (qqp)": {}})
    # nothing to read for either row here; what matters is that the left-out row is never visited
    visited = []

    class Spy(dict):
        def __contains__(self, name):
            visited.append(name)
            return False

    findings(target, None, [], Spy(), type("T", (), {"distances": {}})(), leave_out=["stack (mnli)"])
    assert "stack (mnli)" not in visited


def test_a_stage_ids_budget_reads_back_what_the_plan_wrote_and_budgets_order_auto_last():
    from adaptx.budgets import budget_of_stage_id, budget_order, budget_suffix

    for budget in (None, 150, "auto"):
        assert budget_of_stage_id(f"target-xnli-stack-zoo-qqp-e5small-s0-s0{budget_suffix(budget)}") == budget
    assert sorted(["auto", 600, 150], key=budget_order) == [150, 600, "auto"]
