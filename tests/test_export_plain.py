"""An export used the way a plain `adapters` user would: the loading code of its README.md, run as it
stands (only DIR and BASE filled in) in a fresh interpreter without adaptx, gives adaptx's own
probabilities with the library's standard `model(**batch)`, for mean-pooled classification and
multiple-choice heads (tiny random-weight model, fp32, 1e-5); and every message printed while loading
is one the README explains."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import adaptx
from adaptx import pipeline, zoo_export
from adaptx.cli import main
from tiny_data import write_tiny_data
from tiny_intermediate import write_tiny_intermediate

# the start of each message the libraries may print while an export loads, as its README quotes it
EXPLAINED = ("There are adapters available but none are activated for the forward pass.",
             "Some weights of BertAdapterModel were not initialized from the model checkpoint at",
             "You should probably TRAIN this model",  # the second line of the message above
             "The tokenizer you are loading from")


@pytest.fixture(scope="module")
def exports(tiny_model_dir, tmp_path_factory):
    """Mean-pooled SST-2 (classification) and HellaSwag (multiple-choice) adapters, added to a zoo and
    exported."""
    root = tmp_path_factory.mktemp("export-plain")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAPTX_HOME", str(root / "home"))
        data = write_tiny_intermediate(write_tiny_data(root / "data"))
        config = root / "exp.yaml"
        config.write_text(yaml.safe_dump({
            "base_model": str(tiny_model_dir), "intermediate_tasks": ["sst2", "hellaswag"], "target_task": "xnli",
            "languages": ["en"], "strategies": ["stack"], "max_seq_length": 32, "head": {"pooling": "mean"},
            "train": {"intermediate_steps": 2, "target_steps": 1, "batch_size": 4},
            "data": {"max_eval_examples": 4, "max_dev_examples": 4}}))
        pipeline.run_experiment(config, data_dir=data, out_dir=root / "run")
        stages = {p.name.rsplit("-", 1)[0]: p for p in (root / "run" / "stages").iterdir()}
        zoo, outs = root / "zoo", {}
        for task in ("sst2", "hellaswag"):
            stage = stages[f"intermediate-adapter-{task}-s0"]
            assert main(["zoo", "add", str(stage), "--name", task, "--zoo", str(zoo)]) == 0
            outs[task] = zoo_export.export_entry(zoo, task, root / "export" / task)
    return {"zoo": zoo, "outs": outs}


def _readme_code(out) -> str:
    """The README's loading code: its first python block, with DIR and BASE filled in."""
    readme = (out / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    base = json.loads((out / "adapter_config.json").read_text())["model_name"]
    assert "DIR = 'path/to/this/folder'\n" in code
    return re.sub(r"^BASE = .*$", f"BASE = {base!r}", code.replace("DIR = 'path/to/this/folder'", f"DIR = {str(out)!r}"),
                  flags=re.M)


def _run_readme(out) -> tuple[list, list[str]]:
    """Run the README's code in a fresh interpreter: (its `probs`, the lines it printed to stderr)."""
    code = _readme_code(out) + ("import json\nassert 'adaptx' not in sys.modules and model.active_adapters\n"
                                "print(json.dumps(probs.tolist()))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=out.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), [line for line in result.stderr.splitlines() if line]


def test_the_readme_comes_first_ships_the_head_and_does_not_point_to_itself(exports):
    out = exports["outs"]["sst2"]
    readme = (out / "README.md").read_text()
    after_metadata = readme.split("\n---\n", 1)[1].lstrip().splitlines()
    assert after_metadata[0] == "# sst2" and after_metadata[4] == "```python"  # a title, one sentence, the code
    assert "the README.md it writes" not in readme and "zoo export" not in readme.split("## With adaptx")[1]
    assert (out / "adaptx_heads.py").read_text() == Path(adaptx.__file__).with_name("exported_heads.py").read_text()
    head = json.loads((out / "head_config.json").read_text())["config"]
    assert head["head_type"] == "adaptx_mean_classification" and head["use_pooler"] is False
    assert "unmeasured" in readme or "weights fingerprint" in readme.split("## The base model")[1]
    assert all(" ".join(message.split()[:5]) in readme for message in EXPLAINED)


def test_a_mean_pooled_classification_export_gives_adaptx_probabilities_with_model_batch(exports):
    out = exports["outs"]["sst2"]
    got, stderr = _run_readme(out)
    code = _readme_code(out)
    texts = ast.literal_eval(re.search(r"^batch = tokenizer\((\[.*?\]),", code, re.M).group(1))
    predictor = adaptx.load(exports["zoo"] / "sst2", dtype="fp32")
    expected = [[record["probabilities"][label] for label in predictor.labels] for record in predictor.predict(texts)]
    torch.testing.assert_close(torch.tensor(got), torch.tensor(expected), rtol=0, atol=1e-5)
    assert [line for line in stderr if not line.startswith(EXPLAINED)] == []


def test_a_mean_pooled_multiple_choice_export_gives_adaptx_probabilities_with_model_batch(exports):
    out = exports["outs"]["hellaswag"]
    got, stderr = _run_readme(out)
    code = _readme_code(out)
    context = ast.literal_eval(re.search(r"^context = (.*)$", code, re.M).group(1))
    choices = ast.literal_eval(re.search(r"^choices = (\[.*?\])", code, re.M).group(1))
    predictor = adaptx.load(exports["zoo"] / "hellaswag", dtype="fp32")
    expected = [predictor.predict([{"context": context, "choices": choices}])[0]["probabilities"]]
    torch.testing.assert_close(torch.tensor(got), torch.tensor(expected), rtol=0, atol=1e-5)
    assert [line for line in stderr if not line.startswith(EXPLAINED)] == []


def test_loading_without_registering_the_head_fails_loudly_instead_of_scoring_wrong(exports):
    out = exports["outs"]["sst2"]
    code = _readme_code(out).replace("adaptx_heads.register(model)", "pass")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0 and "adaptx_mean_classification' is not known" in result.stderr
