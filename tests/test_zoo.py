"""The adapter zoo: publish finished stages, list/show/verify/export/remove them, catch tampering,
refuse adapters of another base, reuse entries from configs as zoo:NAME, and the hub round trip."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from adaptx import pipeline, zoo, zoo_export, zoo_rescore, zoo_stage_card
from adaptx.cli import main
from adaptx.errors import AdaptxError
from adaptx.fingerprint import base_fingerprint, sha256_file
from shipped_zoo import shipped_card
from tiny_data import write_tiny_data

BASE_CONFIG = {
    "intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli", "languages": ["en", "de"],
    "strategies": ["none", "stack", "fuse"], "max_seq_length": 16,
    "train": {"intermediate_steps": 2, "target_steps": 3, "batch_size": 4, "checkpoint_every": 1},
    "data": {"max_eval_examples": 6, "max_dev_examples": 6},
}


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """One finished tiny run (intermediate adapters, none, stack, fuse), shared read-only by the tests."""
    root = tmp_path_factory.mktemp("zoo-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAPTX_HOME", str(root / "home"))
        data = write_tiny_data(root / "data")
        config = root / "exp.yaml"
        config.write_text(yaml.safe_dump({**BASE_CONFIG, "base_model": str(tiny_model_dir)}))
        pipeline.run_experiment(config, data_dir=data, out_dir=root / "run")
    stages = {p.name.rsplit("-", 1)[0]: p for p in (root / "run" / "stages").iterdir()}
    return {"config": config, "data": data, "run": root / "run", "stages": stages}


@pytest.fixture
def zoo_dir(tmp_path, adaptx_home, monkeypatch):
    path = tmp_path / "zoo"
    monkeypatch.setenv("ADAPTX_ZOO", str(path))  # the default root of every zoo command in these tests
    return path


def add(trained, stage, name, root):
    assert main(["zoo", "add", str(trained["stages"][stage]), "--name", name, "--zoo", str(root)]) == 0
    return root / name


def saved_name(trained, task: str) -> str:
    """The name an intermediate adapter was saved under: <task>-s<seed>-<base tag>."""
    setup = json.loads((trained["stages"][f"intermediate-adapter-{task}-s0"] / "model" / "setup.json").read_text())
    assert re.fullmatch(rf"{task}-s0-[0-9a-f]{{8}}", setup["own_adapter"])
    return setup["own_adapter"]


def adapter_folder(entry: Path, task: str) -> Path:
    (folder,) = entry.glob(f"adapter-{task}-s0-*")
    return folder


def tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def trained_here(capsys) -> list[str]:
    return [line[2:].split(":")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("+ ")]


def problems_of(root, name=None):
    return zoo.verify_zoo(root, name)[1]


def test_add_list_show_verify_export_round_trip(trained, zoo_dir, tiny_model_dir, tmp_path, capsys):
    entry = add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    qqp = saved_name(trained, "qqp")
    assert sorted(tree(entry)) == [f"adapter-{qqp}/adapter.safetensors", f"adapter-{qqp}/adapter_config.json",
                                   f"adapter-{qqp}/adaptx-adapter.json", "card.json", "head.safetensors", "setup.json"]
    card = json.loads((entry / "card.json").read_text())
    assert set(zoo.CARD_FIELDS) <= set(card) and not zoo.card_problems(card, entry / "card.json")
    manifest = json.loads((trained["stages"]["intermediate-adapter-qqp-s0"] / "manifest.json").read_text())
    assert card["base"]["identity"] == manifest["recipe"]["base"]
    assert card["base"]["fingerprint"] == base_fingerprint(manifest["recipe"]["base"])
    assert (card["kind"], card["task"], card["seed"], card["training"]["steps"]) == ("intermediate", "qqp", 0, 2)
    assert card["training"]["data"]["train_rows"] == 24 and card["metrics"]["en_dev"]["metric"] == "accuracy"
    assert card["adapter"]["method"] == "seq_bn" and card["adapter"]["config"]["reduction_factor"] == 16
    assert card["files"][f"adapter-{qqp}/adapter.safetensors"] == card["adapter"]["sha256"]
    assert "qqp" in card["license"]["data"]

    capsys.readouterr()
    assert main(["zoo", "list"]) == 0
    assert "| qqp-tiny-s0 | 1 | intermediate | qqp |" in capsys.readouterr().out
    assert main(["zoo", "list", "--task", "xnli"]) == 0 and "no zoo entries" in capsys.readouterr().out
    fingerprint = card["base"]["fingerprint"].split(":")[1][:12]
    assert main(["zoo", "list", "--base", fingerprint]) == 0 and "qqp-tiny-s0" in capsys.readouterr().out
    assert main(["zoo", "list", "--base", "xlm-roberta-large"]) == 0 and "no zoo entries" in capsys.readouterr().out
    assert main(["zoo", "show", "qqp-tiny-s0", "--json"]) == 0 and json.loads(capsys.readouterr().out) == card
    assert main(["zoo", "verify"]) == 0 and "1 entries checked, 0 problems" in capsys.readouterr().out

    out = tmp_path / "exported"
    assert main(["zoo", "export", "qqp-tiny-s0", str(out)]) == 0
    assert (out / "adapter_config.json").is_file() and not list(out.rglob("*.bin"))
    code = (  # a fresh interpreter with only transformers + adapters loads it
        "import sys, torch, adapters; from transformers import AutoModel; from safetensors.torch import load_file\n"
        f"m = AutoModel.from_pretrained({str(tiny_model_dir)!r}); adapters.init(m)\n"
        f"name = m.load_adapter({str(out)!r}, use_safetensors=True)\n"
        f"state, params = load_file({str(out / 'adapter.safetensors')!r}), dict(m.named_parameters())\n"
        "assert all(torch.equal(params[k], v) for k, v in state.items()) and state\n"
        "assert 'adaptx' not in sys.modules; print('loaded', name, len(state))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"loaded {qqp} 8" in result.stdout  # its own name: task, seed and base never collide


def test_fusion_entry_carries_members_head_and_setup_and_reloads_exactly(trained, zoo_dir, tiny_model_dir, tmp_path):
    from adaptx.modeling import load_model
    from adaptx.models import load_encoder
    from transformers import AutoTokenizer

    entry = add(trained, "target-xnli-fuse-qqp+sst2-s0", "xnli-fuse-tiny", zoo_dir)
    card = json.loads((entry / "card.json").read_text())
    assert card["kind"] == "fusion" and card["adapter"] is None
    names = [saved_name(trained, "qqp"), saved_name(trained, "sst2")]
    assert [(m["name"], m["source"]["stage"]) for m in card["members"]] == [
        (names[0], "intermediate-adapter-qqp-s0"), (names[1], "intermediate-adapter-sst2-s0")]
    qqp = trained["stages"]["intermediate-adapter-qqp-s0"] / "model" / f"adapter-{names[0]}" / "adapter.safetensors"
    assert card["members"][0]["sha256"] == sha256_file(qqp)
    assert card["fusion"]["adapters"] == names and card["fusion"]["settings"]["regularization"] is True
    assert card["head"]["labels"] == ["entailment", "neutral", "contradiction"]

    def loader(_folder):
        return load_encoder(str(tiny_model_dir), "fp32")

    stage = trained["stages"]["target-xnli-fuse-qqp+sst2-s0"]
    from_stage = load_model(stage / "model", loader, {saved_name(trained, n): trained["stages"][
        f"intermediate-adapter-{n}-s0"] / "model" / f"adapter-{saved_name(trained, n)}" for n in ("qqp", "sst2")})
    from_zoo = load_model(entry, loader, zoo.entry_adapter_dirs(entry, zoo.Card.of(card)))
    batch = AutoTokenizer.from_pretrained(str(tiny_model_dir))(["the cat sat", "a dog on the mat"], padding=True,
                                                               return_tensors="pt")
    with torch.no_grad():
        expected = from_stage(batch["input_ids"], batch["attention_mask"])
        torch.testing.assert_close(from_zoo(batch["input_ids"], batch["attention_mask"]), expected, rtol=0, atol=0)

    out = tmp_path / "fusion-export"
    zoo_export.export_entry(zoo_dir, "xnli-fuse-tiny", out)
    code = (
        "import sys, adapters; from transformers import AutoModel\n"
        f"m = AutoModel.from_pretrained({str(tiny_model_dir)!r}); adapters.init(m)\n"
        f"names = [m.load_adapter({str(out)!r} + '/' + n, use_safetensors=True) for n in {names!r}]\n"
        f"m.load_adapter_fusion({str(out / 'fusion')!r}, {','.join(names)!r}, use_safetensors=True)\n"
        "assert 'adaptx' not in sys.modules; print(names, sorted(m.adapters_config.fusions))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert str(names) in result.stdout


def _flip_a_byte(entry):
    path = adapter_folder(entry, "qqp") / "adapter.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


def _drop_card_field(entry):
    card = json.loads((entry / "card.json").read_text())
    del card["seed"]
    (entry / "card.json").write_text(json.dumps(card))


def _pickle_named_safetensors(entry):
    """A pickle under a .safetensors name, listed in the card with its own sha256 (a consistent forgery)."""
    path = entry / "extra.safetensors"
    torch.save({"x": torch.zeros(1)}, path)
    card = json.loads((entry / "card.json").read_text())
    card["files"]["extra.safetensors"] = sha256_file(path)
    (entry / "card.json").write_text(json.dumps(card))


def _point_adapter_outside(entry):
    card = json.loads((entry / "card.json").read_text())
    card["adapter"]["folder"] = ".."
    (entry / "card.json").write_text(json.dumps(card))


@pytest.mark.parametrize("damage, expected", [
    (_flip_a_byte, r"adapter.safetensors: sha256 \w+… does not match the card"),
    (lambda e: (adapter_folder(e, "qqp") / "pytorch_adapter.bin").write_bytes(b"\x80\x02}q\x00."),
     r"pytorch_adapter.bin: a .bin file; zoo entries hold safetensors weights and JSON only"),
    (lambda e: (e / "weights.pt").write_bytes(b"x"), r"weights.pt: a .pt file"),
    (lambda e: (e / "state.pkl").write_bytes(b"x"), r"state.pkl: a .pkl file"),
    (lambda e: (e / "notes.json").write_text("{}"), r"notes.json: not listed in the card's files"),
    (lambda e: (e / "head.safetensors").unlink(), r"head.safetensors: listed in the card but missing"),
    (_drop_card_field, r"card.json: field 'seed' is missing"),
    (_pickle_named_safetensors, r"extra.safetensors: not a safetensors file"),
    (_point_adapter_outside, r"adapter.folder '..' must be a folder of the entry"),
])
def test_verify_catches_damage_and_resolution_refuses_it(trained, zoo_dir, damage, expected, capsys):
    entry = add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    identity = json.loads((entry / "card.json").read_text())["base"]["identity"]
    assert problems_of(zoo_dir) == []
    damage(entry)
    found = problems_of(zoo_dir)
    assert any(re.search(expected, p) for p in found), found
    assert main(["zoo", "verify", "qqp-tiny-s0"]) == 1
    assert "problems" in capsys.readouterr().out
    with pytest.raises(AdaptxError, match="failed verification"):
        zoo.resolve_zoo_adapter("qqp-tiny-s0", zoo_dir, identity)


def test_verify_catches_an_index_out_of_sync_and_rebuilds_it_on_request(trained, zoo_dir, capsys):
    add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    add(trained, "intermediate-adapter-sst2-s0", "sst2-tiny-s0", zoo_dir)
    index_path = zoo_dir / "index.json"
    good = index_path.read_text()
    index = json.loads(good)
    index["entries"]["ghost"] = index["entries"].pop("sst2-tiny-s0")
    index["entries"]["qqp-tiny-s0"]["task"] = "mnli"  # a hand-edited record
    index_path.write_text(json.dumps(index))
    found = problems_of(zoo_dir)
    assert any("lists 'ghost', but" in p for p in found)
    assert any("sst2-tiny-s0: not in index.json" in p for p in found)
    assert any("differs from its record in index.json" in p for p in found)
    assert main(["zoo", "verify", "--rebuild-index"]) == 0
    assert index_path.read_text() == good and problems_of(zoo_dir) == []
    # an edited card is caught by the index even when its own fields still look complete
    card = json.loads((zoo_dir / "qqp-tiny-s0" / "card.json").read_text())
    card["metrics"]["en_dev"]["value"] = 0.99
    (zoo_dir / "qqp-tiny-s0" / "card.json").write_text(json.dumps(card))
    assert any("differs from its record" in p for p in problems_of(zoo_dir))
    assert main(["zoo", "list"]) == 0 and "accuracy 0.99" not in capsys.readouterr().out


def test_a_zoo_adapter_trained_on_another_base_is_refused(trained, zoo_dir, tiny_model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    other = tmp_path / "other-base"
    shutil.copytree(tiny_model_dir, other)
    state = load_file(str(other / "model.safetensors"))
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key] + 0.01  # same architecture, different weights
    save_file(state, str(other / "model.safetensors"))
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({**BASE_CONFIG, "base_model": str(other), "strategies": ["stack"],
                                      "intermediate_tasks": ["zoo:qqp-tiny-s0"], "zoo_dir": str(zoo_dir)}))
    with pytest.raises(AdaptxError, match=r"zoo:qqp-tiny-s0 was trained on base .* \(fingerprint sha256:\w+\), but "
                                          r"this run's base model has fingerprint sha256:\w+"):
        pipeline.run_experiment(config, data_dir=trained["data"], out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_run_with_zoo_adapters_trains_no_intermediate_stage_and_matches_the_run_that_trained_them(
        trained, zoo_dir, tiny_model_dir, tmp_path, capsys):
    add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    add(trained, "intermediate-adapter-sst2-s0", "sst2-tiny-s0", zoo_dir)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({**BASE_CONFIG, "base_model": str(tiny_model_dir), "strategies": ["stack", "fuse"],
                                      "intermediate_tasks": ["zoo:qqp-tiny-s0", "zoo:sst2-tiny-s0"]}))
    out = tmp_path / "run"
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=trained["data"], out_dir=out)
    assert trained_here(capsys) == ["target-xnli-stack-zoo-qqp-tiny-s0-s0", "target-xnli-stack-zoo-sst2-tiny-s0-s0",
                       "target-xnli-fuse-zoo-qqp-tiny-s0+zoo-sst2-tiny-s0-s0"]
    mine = {p.name.rsplit("-", 1)[0]: p for p in (out / "stages").iterdir()}
    fuse = "target-xnli-fuse-zoo-qqp-tiny-s0+zoo-sst2-tiny-s0-s0"
    for zoo_stage, original in [("target-xnli-stack-zoo-qqp-tiny-s0-s0", "target-xnli-stack-qqp-s0"),
                                ("target-xnli-stack-zoo-sst2-tiny-s0-s0", "target-xnli-stack-sst2-s0"),
                                (fuse, "target-xnli-fuse-qqp+sst2-s0")]:
        for lang in ("en", "de"):  # same weights under it -> the same training -> the same predictions
            ours = json.loads(next((mine[zoo_stage] / "eval").glob(f"{lang}-*.json")).read_text())[lang]
            theirs = json.loads(next((trained["stages"][original] / "eval").glob(f"{lang}-*.json")).read_text())[lang]
            assert (ours["ids"], ours["pred"]) == (theirs["ids"], theirs["pred"])
        from safetensors.torch import load_file
        torch.testing.assert_close(load_file(str(mine[zoo_stage] / "model" / "head.safetensors")),
                                   load_file(str(trained["stages"][original] / "model" / "head.safetensors")),
                                   rtol=0, atol=0)
    records = json.loads((out / "results.json").read_text())
    assert {r["intermediate"] for r in records} == {"zoo:qqp-tiny-s0", "zoo:sst2-tiny-s0",
                                                    "zoo:qqp-tiny-s0+zoo:sst2-tiny-s0"}
    manifest = json.loads((mine["target-xnli-stack-zoo-qqp-tiny-s0-s0"] / "manifest.json").read_text())
    assert manifest["recipe"]["needs"] == {} and manifest["recipe"]["zoo"]["zoo-qqp-tiny-s0"]["entry"] == "qqp-tiny-s0"

    # a fusion trained on zoo adapters publishes too: its members come from the zoo entries
    fused = add({"stages": mine}, fuse, "fuse-of-zoo", zoo_dir)
    members = json.loads((fused / "card.json").read_text())["members"]
    assert [(m["name"], m["source"]) for m in members] == [("zoo-qqp-tiny-s0", {"zoo": "qqp-tiny-s0"}),
                                                           ("zoo-sst2-tiny-s0", {"zoo": "sst2-tiny-s0"})]

    # unchanged entries: nothing retrains; a changed entry retrains exactly the stages built on it
    pipeline.run_experiment(config, data_dir=trained["data"], out_dir=out)
    rerun = capsys.readouterr().out
    assert rerun.count("done before, skipped") == 3 and "\n+ " not in rerun
    assert main(["zoo", "remove", "qqp-tiny-s0"]) == 0
    add(trained, "target-xnli-none-s0", "qqp-tiny-s0", zoo_dir)  # same name, other weights
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=trained["data"], out_dir=out)
    assert trained_here(capsys) == ["target-xnli-stack-zoo-qqp-tiny-s0-s0", fuse]


def test_zoo_adapters_give_the_adapter_rows_a_published_adapter_while_full_still_trains_on_the_task(
        trained, zoo_dir, tiny_model_dir, tmp_path, capsys):
    add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({**BASE_CONFIG, "base_model": str(tiny_model_dir), "strategies": ["stack", "full"],
                                      "intermediate_tasks": ["qqp"], "zoo_adapters": {"qqp": "zoo:qqp-tiny-s0"}}))
    out = tmp_path / "run"
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=trained["data"], out_dir=out)
    # no intermediate adapter is trained; the full strategy fine-tunes on QQP itself
    assert trained_here(capsys) == ["intermediate-full-qqp-s0", "target-xnli-stack-qqp-s0", "target-xnli-full-qqp-s0"]
    mine = {p.name.rsplit("-", 1)[0]: p for p in (out / "stages").iterdir()}
    for lang in ("en", "de"):  # the published adapter holds the trained run's weights: the same stack predictions
        ours = json.loads(next((mine["target-xnli-stack-qqp-s0"] / "eval").glob(f"{lang}-*.json")).read_text())[lang]
        theirs = json.loads(next((trained["stages"]["target-xnli-stack-qqp-s0"] / "eval").glob(f"{lang}-*.json"))
                            .read_text())[lang]
        assert (ours["ids"], ours["pred"]) == (theirs["ids"], theirs["pred"])
    manifest = json.loads((mine["target-xnli-stack-qqp-s0"] / "manifest.json").read_text())
    assert manifest["recipe"]["zoo"]["zoo-qqp-tiny-s0"]["entry"] == "qqp-tiny-s0"
    assert {(r["strategy"], r["intermediate"]) for r in json.loads((out / "results.json").read_text())} == {
        ("stack", "qqp"), ("full", "qqp")}
    assert "adapter rows use the published intermediate adapter (qqp = zoo:qqp-tiny-s0)" in (
        out / "results.md").read_text()

    # an entry of another task is refused before anything trains
    config.write_text(yaml.safe_dump({**BASE_CONFIG, "base_model": str(tiny_model_dir), "strategies": ["stack"],
                                      "intermediate_tasks": ["sst2"], "zoo_adapters": {"sst2": "zoo:qqp-tiny-s0"}}))
    with pytest.raises(AdaptxError, match=r"zoo_adapters.sst2: zoo:qqp-tiny-s0 was trained on 'qqp', not 'sst2'"):
        pipeline.run_experiment(config, data_dir=trained["data"], out_dir=tmp_path / "other")
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("overrides, match", [
    (["strategies=[stack, full]", "intermediate_tasks=[zoo:qqp-s0]"],
     r"strategies: 'full' fine-tunes the whole model .* zoo:qqp-s0 is a published adapter"),
    (["strategies=[stack]", "intermediate_tasks=[zoo:a.b]"], r"intermediate_tasks\[0\]: 'zoo:a.b': expected zoo:NAME"),
    (["strategies=[stack]", "intermediate_tasks=[qqq]"], r"unknown intermediate task 'qqq'; allowed: .* or zoo:NAME"),
    (["intermediate_tasks=[qqp]", "zoo_adapters={qqq: 'zoo:x'}"], r"zoo_adapters.'qqq': unknown intermediate task"),
    (["intermediate_tasks=[qqp]", "zoo_adapters={qqp: qqp-s0}"], r"zoo_adapters.qqp: 'qqp-s0': expected zoo:NAME"),
])
def test_config_errors_for_zoo_references(overrides, match):
    from adaptx.config import load_config

    with pytest.raises(AdaptxError, match=match):
        load_config(None, overrides)


def test_a_missing_or_non_standalone_entry_in_a_config_is_a_clear_error(trained, zoo_dir, tiny_model_dir, tmp_path):
    add(trained, "target-xnli-stack-qqp-s0", "xnli-stack", zoo_dir)
    identity = json.loads((zoo_dir / "xnli-stack" / "card.json").read_text())["base"]["identity"]
    with pytest.raises(AdaptxError, match=r"zoo:xnli-stack is a target entry \(stack\); only an adapter trained "
                                          r"directly on the base"):
        zoo.resolve_zoo_adapter("zoo:xnli-stack", zoo_dir, identity)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({**BASE_CONFIG, "base_model": str(tiny_model_dir), "strategies": ["stack"],
                                      "intermediate_tasks": ["zoo:nope"]}))
    with pytest.raises(AdaptxError, match=r"no zoo entry 'nope' in .*zoo \(entries: xnli-stack\)"):
        pipeline.run_experiment(config, data_dir=trained["data"], out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def _local_hub(monkeypatch, hub: Path, calls: list):
    """Stand-ins for huggingface_hub.upload_folder / snapshot_download over a local folder."""
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    def upload_folder(*, repo_id, folder_path, path_in_repo, allow_patterns=None, **kwargs):
        calls.append(("upload", repo_id, allow_patterns))
        for path in Path(folder_path).rglob("*"):
            rel = path.relative_to(folder_path).as_posix()
            if path.is_file() and list(filter_repo_objects([rel], allow_patterns=allow_patterns)):
                (hub / repo_id / path_in_repo / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, hub / repo_id / path_in_repo / rel)

    def snapshot_download(repo_id, *, local_dir, allow_patterns=None, revision=None, **kwargs):
        calls.append(("download", repo_id, allow_patterns))
        repo = hub / repo_id
        files = [p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()]
        for rel in filter_repo_objects(files, allow_patterns=allow_patterns):
            (Path(local_dir) / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(repo / rel, Path(local_dir) / rel)
        return local_dir

    monkeypatch.setattr(huggingface_hub, "upload_folder", upload_folder)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)


def test_hub_push_and_pull_round_trip_verifies_before_use(trained, zoo_dir, tmp_path, monkeypatch, capsys):
    hub, calls = tmp_path / "hub", []
    _local_hub(monkeypatch, hub, calls)
    entry = add(trained, "target-xnli-fuse-qqp+sst2-s0", "xnli-fuse-tiny", zoo_dir)
    assert main(["zoo", "push", "xnli-fuse-tiny", "me/adapters"]) == 0
    pushed = tree(hub / "me" / "adapters" / "xnli-fuse-tiny")
    readme = pushed.pop("README.md").decode()  # the model card the hub renders, beside the entry's own files
    assert pushed == tree(entry)
    assert readme.startswith("---\nlibrary_name: \"adapter-transformers\"\n") and "\n# xnli-fuse-tiny\n" in readme
    card = json.loads((entry / "card.json").read_text())
    for fact in ("| task | xnli |", "| kind | fusion (fuse) |", card["base"]["fingerprint"], "adaptx zoo pull me/adapters "
                 "xnli-fuse-tiny", f"{card['training']['steps']} steps x batch {card['training']['batch_size']}"):
        assert fact in readme, fact

    other = tmp_path / "other-zoo"
    assert main(["zoo", "pull", "me/adapters", "xnli-fuse-tiny", "--zoo", str(other)]) == 0
    assert tree(other / "xnli-fuse-tiny") == tree(entry) and problems_of(other) == []
    assert calls[-1] == ("download", "me/adapters", ["xnli-fuse-tiny/*.safetensors", "xnli-fuse-tiny/*.json"])

    # a pickle on the hub is never downloaded; a modified weight file is refused and nothing lands
    published = hub / "me" / "adapters" / "xnli-fuse-tiny"
    (adapter_folder(published, "qqp") / "pytorch_adapter.bin").write_bytes(b"\x80\x02}q\x00.")
    weights = published / "fusion" / "model_adapter_fusion.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    third = tmp_path / "third-zoo"
    capsys.readouterr()
    assert main(["zoo", "pull", "me/adapters", "xnli-fuse-tiny", "--zoo", str(third)]) == 1
    err = capsys.readouterr().err
    assert "failed verification; nothing was added" in err and "model_adapter_fusion.safetensors: sha256" in err
    assert ".bin" not in err  # filtered out by allow_patterns, never written
    assert not third.exists()  # no entry, no index, no temp folder: not even the zoo folder the pull created
    assert main(["zoo", "pull", "me/adapters", "absent", "--zoo", str(third)]) == 1
    assert "has no zoo entry 'absent'" in capsys.readouterr().err


def test_an_unreachable_hub_is_a_clear_error(trained, zoo_dir, monkeypatch, capsys):
    """The real huggingface_hub functions, offline (conftest sets HF_HUB_OFFLINE=1)."""
    add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    before = tree(zoo_dir)
    capsys.readouterr()
    assert main(["zoo", "push", "qqp-tiny-s0", "me/adapters"]) == 1
    assert "adaptx: error: cannot push 'qqp-tiny-s0' to the hub repo me/adapters" in capsys.readouterr().err
    assert main(["zoo", "pull", "me/adapters", "other"]) == 1
    assert "adaptx: error: cannot download 'other' from the hub repo me/adapters" in capsys.readouterr().err
    assert tree(zoo_dir) == before and sorted(p.name for p in zoo_dir.iterdir()) == ["index.json", "qqp-tiny-s0"]


def test_bad_input_gives_clear_errors_and_loses_nothing(trained, zoo_dir, tmp_path, capsys):
    entry = add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    before, index = tree(entry), (zoo_dir / "index.json").read_text()

    def fails(argv, message):
        capsys.readouterr()
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("adaptx: error: ") and message in err and "Traceback" not in err, err

    fails(["zoo", "show", "nope"], "no zoo entry 'nope' in")
    fails(["zoo", "remove", "nope"], "(entries: qqp-tiny-s0)")
    fails(["zoo", "export", "nope", str(tmp_path / "x")], "no zoo entry 'nope'")
    fails(["zoo", "add", str(trained["stages"]["intermediate-adapter-sst2-s0"]), "--name", "qqp-tiny-s0"],
          "zoo entry 'qqp-tiny-s0' already exists")
    fails(["zoo", "add", str(trained["stages"]["intermediate-adapter-sst2-s0"]), "--name", "bad.name"],
          "zoo entry name 'bad.name'")
    fails(["zoo", "add", str(tmp_path / "nowhere"), "--name", "x"], "does not exist; pass a folder like")
    fails(["zoo", "add", str(trained["run"]), "--name", "x"], "manifest.json is missing")

    running = tmp_path / "stages" / trained["stages"]["target-xnli-none-s0"].name
    shutil.copytree(trained["stages"]["target-xnli-none-s0"], running)
    manifest = json.loads((running / "manifest.json").read_text())
    (running / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    fails(["zoo", "add", str(running), "--name", "x"], "stage status is 'running', not 'done'")
    (running / "manifest.json").write_text(json.dumps(manifest))
    (running / "model" / "setup.json").write_text(json.dumps({"strategy": "full-none"}))
    fails(["zoo", "add", str(running), "--name", "x"], "a 'full-none' stage; the zoo holds adapters")
    renamed = tmp_path / "stages" / "renamed"
    running.rename(renamed)
    fails(["zoo", "add", str(renamed), "--name", "x"], "folder name does not match its manifest")

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    fails(["zoo", "export", "qqp-tiny-s0", str(tmp_path / "full")], "exists and is not empty")
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep"
    assert tree(entry) == before and (zoo_dir / "index.json").read_text() == index
    assert sorted(p.name for p in zoo_dir.iterdir()) == ["index.json", "qqp-tiny-s0"]  # no temp folders left

    assert main(["zoo", "remove", "qqp-tiny-s0"]) == 0
    assert not entry.exists() and json.loads((zoo_dir / "index.json").read_text())["entries"] == {}


def test_card_data_paths_are_relative_to_the_data_folder_and_the_dev_sample_is_recorded(trained, zoo_dir):
    entry = add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    data = json.loads((entry / "card.json").read_text())["training"]["data"]
    recipe = json.loads((trained["stages"]["intermediate-adapter-qqp-s0"] / "manifest.json").read_text())["recipe"]
    metrics = json.loads((trained["stages"]["intermediate-adapter-qqp-s0"] / "metrics.json").read_text())
    assert metrics["data"]["dev"] == str(trained["data"] / "qqp" / "ppft_dev_subset.json")  # the stage: this machine's
    assert (data["train"], data["dev"]) == ("qqp/ppft_train_subset.json", "qqp/ppft_dev_subset.json")  # the card: not
    assert str(trained["data"]) not in (entry / "card.json").read_text()
    assert (data["train_ids_digest"], data["dev_ids_digest"]) == (recipe["data"]["train"]["rows"],
                                                                  recipe["data"]["dev"]["rows"])
    assert data["sample_seed"] == 0 and data["dev_rows"] == 6


@pytest.mark.parametrize("origin, expected", [
    ("../shared/data/qqp/ppft_dev_subset.json", "qqp/ppft_dev_subset.json"),
    ("/home/me/data sets/sst2/alps_dev.tsv", "sst2/alps_dev.tsv"),
    ("qqp: /d/qqp/ppft_train_subset.json | sst2: /d/sst2/alps_train.tsv", "qqp: qqp/ppft_train_subset.json | sst2: "
                                                                          "sst2/alps_train.tsv"),
    ("qqp/ppft_dev_subset.json", "qqp/ppft_dev_subset.json"),  # already relative (--data-dir .)
    ("glue (qqp, validation)", "glue (qqp, validation)"),  # a hub origin has no folder
])
def test_portable_origin(origin, expected):
    assert zoo_stage_card._portable_origin(origin, ["qqp", "sst2"]) == expected


def test_verify_rescore_reproduces_each_cards_english_dev_score(trained, zoo_dir, tmp_path, capsys):
    add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    add(trained, "target-xnli-none-s0", "xnli-none-tiny", zoo_dir)
    add(trained, "target-xnli-fuse-qqp+sst2-s0", "fuse-tiny", zoo_dir)
    got = zoo_rescore.rescore_entry(zoo_dir, "qqp-tiny-s0", trained["data"], "cpu")
    card = zoo.show_entry(zoo_dir, "qqp-tiny-s0")
    assert (got["value"], got["rows"]) == (card["metrics"]["en_dev"]["value"], 6)
    assert got["dtype"] == card["training"]["dtype"]

    capsys.readouterr()
    assert main(["zoo", "verify", "--rescore", "--data-dir", str(trained["data"]), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for name in ("qqp-tiny-s0", "xnli-none-tiny"):
        value = zoo.show_entry(zoo_dir, name)["metrics"]["en_dev"]["value"]
        assert re.search(rf"{name}: English dev accuracy {value:.4f} on 6 rows \(\w+, cpu.*\); card {value:.4f}: "
                         "reproduced", out), out
    assert "fuse-tiny: not rescored (a stack or fusion entry cannot be loaded as zoo:NAME)" in out
    assert "3 entries checked, 0 problems" in out

    def fails(argv, message):
        capsys.readouterr()
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err

    other = write_tiny_data(tmp_path / "other", seed=1)  # same layout, other rows: refused, never scored
    fails(["zoo", "verify", "qqp-tiny-s0", "--rescore", "--data-dir", str(other)],
          "are not those its card records (qqp/ppft_dev_subset.json: sha256")
    fails(["zoo", "verify", "fuse-tiny", "--rescore", "--data-dir", str(trained["data"])],
          "rescoring loads an entry as zoo:NAME, which only an intermediate or `none` adapter entry can be")
    fails(["zoo", "verify", "--rescore"], "zoo verify --rescore needs --data-dir DIR")


def test_every_zoo_command_is_wired():
    from adaptx.cli import build_parser

    parser = build_parser()
    for argv in (["zoo", "list", "--task", "xnli"], ["zoo", "show", "a"], ["zoo", "add", "d", "--name", "a"],
                 ["zoo", "verify"], ["zoo", "remove", "a"], ["zoo", "export", "a", "d"], ["zoo", "push", "a", "r/x"],
                 ["zoo", "pull", "r/x", "a", "--zoo", "z"],
                 ["zoo", "verify", "a", "--rescore", "--data-dir", "d", "--device", "cpu", "--tolerance", "0.01"]):
        assert callable(parser.parse_args(argv).func), argv


def test_the_repository_zoo_verifies():
    root = Path(__file__).resolve().parents[1] / "adapter_zoo"
    checked, found = zoo.verify_zoo(root)
    assert found == [] and checked == len([p for p in root.iterdir() if p.is_dir()])


def test_a_stage_of_a_search_run_folder_takes_the_base_and_seed_from_a_trial_config(tmp_path):
    """`adaptx search` writes no run-level config.yaml; its trials' configs share base and data."""
    from adaptx.zoo_stage_card import _run_config

    stage = tmp_path / "run" / "stages" / "intermediate-adapter-qqp-s0-abc"
    stage.mkdir(parents=True)
    assert _run_config(stage) == {}
    trial = tmp_path / "run" / "search" / "study" / "trials" / "0000"
    trial.mkdir(parents=True)
    (trial / "config.yaml").write_text("base_model: embedded\ndata: {sample_seed: 3}\n")
    assert _run_config(stage) == {"base_model": "embedded", "data": {"sample_seed": 3}}
    (tmp_path / "run" / "config.yaml").write_text("base_model: other\n")  # a plain run's own config wins
    assert _run_config(stage) == {"base_model": "other"}


def _as_mean_pooling(entry: Path, name: str) -> Path:
    """A copy of an entry whose head pools by the masked mean (setup.json and card re-signed)."""
    copy = entry.parent / name
    shutil.copytree(entry, copy)
    setup = json.loads((copy / "setup.json").read_text())
    (copy / "setup.json").write_text(json.dumps({**setup, "pooling": "mean"}))
    card = json.loads((copy / "card.json").read_text())
    card.update(name=name, head={**card["head"], "pooling": "mean"})
    card["files"]["setup.json"] = sha256_file(copy / "setup.json")
    (copy / "card.json").write_text(json.dumps(card))
    assert zoo.verify_zoo(entry.parent, rebuild_index=True)[1] == []
    return copy


def _scores_without_adaptx(code: str, expected: dict) -> dict:
    """Run `code` (which prints {name: scores} as its last line) in a fresh interpreter and check each
    name's scores equal adaptx's `expected` ones; returns what it printed."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    for name in expected:
        torch.testing.assert_close(torch.tensor(got[name]), torch.tensor(expected[name]), rtol=0, atol=1e-6)
    return got


def test_an_export_loads_with_plain_adapters_and_reproduces_adaptx_predictions_exactly(trained, zoo_dir,
                                                                                          tiny_model_dir, tmp_path):
    """adaptx's head in the library's flex-head format beside the adapter: a fresh interpreter with only
    adapters + transformers gets adaptx's logits, for first-token and (with the export's registered head
    class) mean pooling, from the standard forward call."""
    from adaptx.modeling import load_model
    from adaptx.models import load_encoder
    from transformers import AutoTokenizer

    first = add(trained, "intermediate-adapter-qqp-s0", "qqp-first", zoo_dir)
    mean = _as_mean_pooling(first, "qqp-mean")
    texts = ["the cat sat on the mat", "a dog", "one more sentence here"]
    batch = AutoTokenizer.from_pretrained(str(tiny_model_dir))(texts, padding=True, return_tensors="pt")
    expected, outs = {}, {}
    old = os.umask(0o077)  # a private umask: the export must still be readable by others
    try:
        for entry in (first, mean):
            card = json.loads((entry / "card.json").read_text())
            model = load_model(entry, lambda _f: load_encoder(str(tiny_model_dir), "fp32"),
                               zoo.entry_adapter_dirs(entry, zoo.Card.of(card)))
            with torch.no_grad():
                expected[entry.name] = model(batch["input_ids"], batch["attention_mask"]).tolist()
            outs[entry.name] = zoo_export.export_entry(zoo_dir, entry.name, tmp_path / "export" / entry.name)
    finally:
        os.umask(old)
    for name, out in outs.items():
        assert {oct(p.stat().st_mode & 0o777) for p in [out, *out.rglob("*")] if p.is_dir()} == {"0o755"}
        assert {oct(p.stat().st_mode & 0o777) for p in out.rglob("*") if p.is_file()} == {"0o644"}
        assert sorted(p.name for p in out.iterdir()) == [
            "README.md", "adapter.safetensors", "adapter_config.json", "adaptx-adapter.json",
            *(["adaptx_heads.py"] if name == "qqp-mean" else []), "card.json", "head_config.json",
            "model_head.safetensors", "setup.json"]
    assert "adaptx_heads.register(model)" in (outs["qqp-mean"] / "README.md").read_text()
    code = (  # the README's own loading code, in a fresh interpreter without adaptx
        "import json, sys, torch, adapters; from transformers import AutoTokenizer\n"
        f"base, outs, texts = {str(tiny_model_dir)!r}, {json.dumps({k: str(v) for k, v in outs.items()})}, {texts!r}\n"
        "batch = AutoTokenizer.from_pretrained(base)(texts, padding=True, return_tensors='pt')\n"
        "got = {}\n"
        "for entry, out in outs.items():\n"
        "    model = adapters.AutoAdapterModel.from_pretrained(base).eval()\n"
        "    if entry == 'qqp-mean':  # its head pools the masked mean: the export's own head class\n"
        "        sys.path.insert(0, out); import adaptx_heads; adaptx_heads.register(model)\n"
        "    name = model.load_adapter(out, use_safetensors=True, set_active=True)\n"
        "    with torch.no_grad():\n"
        "        logits = model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask']).logits\n"
        "    got[entry] = logits.tolist()\n"
        "assert 'adaptx' not in sys.modules; print(json.dumps(got))\n"
    )
    got = _scores_without_adaptx(code, expected)
    for name in expected:
        assert torch.tensor(got[name]).argmax(-1).tolist() == torch.tensor(expected[name]).argmax(-1).tolist()
    assert expected["qqp-first"] != expected["qqp-mean"]  # the two poolings really differ


def test_multiple_choice_and_qa_exports_load_with_plain_adapters_and_give_adaptx_logits(tiny_model_dir, zoo_dir,
                                                                                       tmp_path):
    """HellaSwag's choice head and SQuAD 2.0's span head in the library's multiple_choice and
    question_answering formats: a fresh interpreter without adaptx gets the same scores."""
    from adaptx.modeling import load_model
    from adaptx.models import load_encoder
    from tiny_intermediate import write_tiny_intermediate
    from transformers import AutoTokenizer

    data = write_tiny_intermediate(write_tiny_data(tmp_path / "data"))
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({**BASE_CONFIG, "base_model": str(tiny_model_dir), "strategies": ["stack"],
                                      "intermediate_tasks": ["hellaswag", "squad2"], "max_seq_length": 32,
                                      "languages": ["en"]}))
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / "run")
    stages = {p.name.rsplit("-", 1)[0]: p for p in (tmp_path / "run" / "stages").iterdir()}
    texts = [" ".join([t] * 4) for t in ("the cat sat on the mat", "a dog ran in the park",
                                         "one more sentence is here", "and a last one too")]
    batch = AutoTokenizer.from_pretrained(str(tiny_model_dir))(texts, padding="max_length", max_length=12,
                                                               truncation=True, return_tensors="pt")
    assert batch["attention_mask"].all()  # no padding: adaptx masks padded positions of spans, the library not
    expected, outs = {}, {}
    for task in ("hellaswag", "squad2"):
        entry = add({"stages": stages}, f"intermediate-adapter-{task}-s0", task, zoo_dir)
        card = json.loads((entry / "card.json").read_text())
        model = load_model(entry, lambda _f: load_encoder(str(tiny_model_dir), "fp32"),
                           zoo.entry_adapter_dirs(entry, zoo.Card.of(card)))
        with torch.no_grad():
            expected[task] = model(batch["input_ids"], batch["attention_mask"]).tolist()
        outs[task] = zoo_export.export_entry(zoo_dir, task, tmp_path / "export" / task)
        assert (outs[task] / "model_head.safetensors").is_file() and not (outs[task] / "head.safetensors").exists()
    heads = {t: json.loads((outs[t] / "head_config.json").read_text())["config"] for t in outs}
    assert (heads["hellaswag"]["head_type"], heads["hellaswag"]["num_choices"]) == ("multiple_choice", 4)
    assert (heads["squad2"]["head_type"], heads["squad2"]["layers"]) == ("question_answering", 1)
    assert "start_logits" in (outs["squad2"] / "README.md").read_text()
    code = (
        "import json, sys, torch, adapters; from transformers import AutoTokenizer\n"
        f"base, outs, texts = {str(tiny_model_dir)!r}, {json.dumps({k: str(v) for k, v in outs.items()})}, {texts!r}\n"
        "batch = AutoTokenizer.from_pretrained(base)(texts, padding='max_length', max_length=12, truncation=True, "
        "return_tensors='pt')\n"
        "got = {}\n"
        "for task, out in outs.items():\n"
        "    model = adapters.AutoAdapterModel.from_pretrained(base).eval()\n"
        "    model.load_adapter(out, use_safetensors=True, set_active=True)\n"
        "    with torch.no_grad():\n"
        "        o = model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'])\n"
        "    got[task] = o.logits.reshape(-1).tolist() if task == 'hellaswag' else "
        "torch.stack([o.start_logits, o.end_logits], -1).tolist()\n"
        "assert 'adaptx' not in sys.modules; print(json.dumps(got))\n"
    )
    _scores_without_adaptx(code, expected)  # hellaswag: one score per (question, choice) row; squad2: start, end


def test_an_export_names_the_embedded_base_by_its_hub_id(tmp_path):
    shipped = Path(__file__).resolve().parents[1] / "adapter_zoo"
    out = zoo_export.export_entry(shipped, "mnli-e5small-s0", tmp_path / "mnli")
    assert json.loads((out / "adapter_config.json").read_text())["model_name"] == "intfloat/multilingual-e5-small"
    head = json.loads((out / "head_config.json").read_text())
    assert (head["model_class"], head["model_name"], head["config"]["num_labels"]) == (
        "BertAdapterModel", "intfloat/multilingual-e5-small", 3)
    assert head["config"]["label2id"] == {"entailment": 0, "neutral": 1, "contradiction": 2}
    readme = (out / "README.md").read_text()
    en_dev = shipped_card("mnli-e5small-s0")["metrics"]["en_dev"]["value"]
    assert 'base_model: "intfloat/multilingual-e5-small"' in readme and f"| English dev | accuracy {en_dev:.3f}" in readme
    assert not any("/root/" in p.read_text() or "/.cache/" in p.read_text() for p in out.glob("*.json"))


def _edit_card(entry: Path, edit, replace_file: tuple[str, bytes] | None = None) -> None:
    """Change a card (and optionally one of its files) and make card and index agree with it again."""
    card = json.loads((entry / "card.json").read_text())
    if replace_file:
        rel, content = replace_file
        (entry / rel).write_bytes(content)
        card["files"][rel] = sha256_file(entry / rel)
    edit(card)
    (entry / "card.json").write_text(json.dumps(card))
    index = json.loads((entry.parent / "index.json").read_text())
    index["entries"][entry.name] = zoo.index_record(zoo.Card.of(card), sha256_file(entry / "card.json"))
    (entry.parent / "index.json").write_text(json.dumps(index))


def test_rescore_on_other_kernels_passes_within_the_stated_tolerance_and_catches_a_swapped_head(
        trained, zoo_dir, capsys):
    from safetensors.torch import load_file, save_file

    from adaptx.kernels import kernels as kernels_here

    entry = add(trained, "intermediate-adapter-qqp-s0", "qqp-tiny-s0", zoo_dir)
    card = zoo.show_entry(zoo_dir, "qqp-tiny-s0")
    here = kernels_here(torch.device("cpu"))
    assert card["training"]["hardware"]["kernels"] == here  # the card names the kernels that scored it
    assert len(card["metrics"]["en_dev"]["predictions"]) == 6  # and keeps its per-row predictions

    def scored_elsewhere(c):  # as if published from another CPU: other oneDNN kernels
        c["training"]["hardware"]["kernels"] = {**here, "onednn_isa": "AVX512_CORE_AMX", "aten": "AVX512"}

    _edit_card(entry, scored_elsewhere)
    got = zoo_rescore.rescore_entry(zoo_dir, "qqp-tiny-s0", trained["data"], "cpu")
    ok, said = zoo_rescore.verdict(got, 0.0)
    assert ok and got["agreeing_rows"] == 6, said
    assert "reproduced within the cross-kernel tolerance on other kernels (card: cpu, oneDNN AVX512_CORE_AMX" in said
    assert "6/6 predictions agree" in said and "at most 1 of 6 allowed" in said
    capsys.readouterr()
    assert main(["zoo", "verify", "qqp-tiny-s0", "--rescore", "--data-dir", str(trained["data"]), "--device", "cpu"]) == 0
    assert "6/6 predictions agree" in capsys.readouterr().out

    # the same tolerance refuses a head whose label rows are swapped (every prediction moves to the other label)
    head = load_file(str(entry / "head.safetensors"))
    weight = next(k for k, v in head.items() if v.dim() == 2 and v.shape[0] == 2)
    head[weight] = head[weight].flip(0).contiguous()
    head[weight.replace("weight", "bias")] = head[weight.replace("weight", "bias")].flip(0).contiguous()
    save_file(head, str(entry / "swapped.safetensors"))
    _edit_card(entry, lambda c: None, ("head.safetensors", (entry / "swapped.safetensors").read_bytes()))
    (entry / "swapped.safetensors").unlink()
    capsys.readouterr()
    assert main(["zoo", "verify", "qqp-tiny-s0", "--rescore", "--data-dir", str(trained["data"]), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "differs beyond the cross-kernel tolerance" in err and "at most 1 of 6 allowed" in err, err

    # and without per-row predictions (a card from before they were kept) the score difference counts
    _edit_card(entry, lambda c: c["metrics"]["en_dev"].pop("predictions"))
    got = zoo_rescore.rescore_entry(zoo_dir, "qqp-tiny-s0", trained["data"], "cpu")
    assert got["agreeing_rows"] is None
    ok, said = zoo_rescore.verdict(got, 0.0)
    assert ok == (abs(got["value"] - got["card_value"]) * 6 <= 1.0001), said
    assert "the card holds no per-row predictions" in said


def test_cards_without_recorded_kernels_count_as_scored_by_avx512_bf16():
    from adaptx.kernels import onednn_isa, same_kernels

    assert zoo_rescore.card_kernels({}) == {"device": "cpu",
                                                                        "onednn_isa": "AVX512_CORE_BF16"}
    assert same_kernels({"device": "cpu", "onednn_isa": "AVX512_CORE_BF16"},
                        {"device": "cpu", "onednn_isa": "AVX512_CORE_BF16", "aten": "AVX512"})
    assert not same_kernels({"device": "cpu", "onednn_isa": "AVX512_CORE_BF16"},
                            {"device": "cpu", "onednn_isa": "AVX2", "aten": "AVX2"})
    # the instruction set oneDNN uses: the CPU's, lowered by ONEDNN_MAX_CPU_ISA (never raised)
    amx = {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16", "amx_bf16"}
    assert onednn_isa(amx, cap="") == "AVX512_CORE_AMX"
    assert onednn_isa(amx, cap="AVX512_CORE_BF16") == "AVX512_CORE_BF16"
    assert onednn_isa({"avx2"}, cap="AVX512_CORE_BF16") == "AVX2"
    assert onednn_isa({"avx", "avx2", "sse4_1"}, cap="") == "AVX2"
    assert zoo_rescore.cross_kernel_rows(1000) == 5 and zoo_rescore.cross_kernel_rows(150) == 1
