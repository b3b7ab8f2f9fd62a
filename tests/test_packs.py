"""The built-in quickstart data pack: it is resolved from `data.dir: builtin:quickstart`, matches
its manifest, ships its NOTICE (also in a built wheel), holds exactly the rows the quickstart
samples from ../shared/data byte for byte and in order (so a run on it sees the same examples),
is what scripts/make_quickstart_pack.py writes, and refuses runs that would sample other rows.

Row sampling never depends on the base model, so the tests swap the embedded model for the
tiny random one (and a sequence length it accepts)."""

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from adaptx import packs
from adaptx.config import load_config
from adaptx.data_manifest import MANIFEST, verify_folder
from adaptx.errors import AdaptxError
from adaptx.pipeline import Experiment, run_experiment
from adaptx.tasks import XNLI_LANGUAGES, get_task

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
PACK = packs.PACKS_DIR / "quickstart"


def tiny(tiny_model_dir, *more):
    # zoo_adapters={}: the shipped QQP adapter fits only the embedded base, so a tiny run trains its own
    return [f"base_model={tiny_model_dir}", "max_seq_length=16", "zoo_adapters={}", *more]


def script():
    spec = importlib.util.spec_from_file_location("make_quickstart_pack", ROOT / "scripts" / "make_quickstart_pack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pack_files():
    return json.loads((PACK / MANIFEST).read_text())["files"]


def test_quickstart_config_resolves_to_the_shipped_pack():
    cfg = load_config(QUICKSTART)
    assert cfg.data.dir == "builtin:quickstart"
    assert packs.resolve_data_dir(cfg.data.dir, cfg) == PACK
    assert packs.resolve_data_dir("../somewhere", cfg) == Path("../somewhere")  # paths stay paths
    assert verify_folder(PACK).ok


def test_pack_notice_names_every_dataset_file_and_license():
    notice = (PACK / "NOTICE").read_text()
    data_files = [name for name in pack_files() if name != "NOTICE"]
    assert all(f"- {name}: " in notice for name in data_files)
    assert "CC BY-NC 4.0" in notice and "SuperGLEBer" in notice and "PowerfulPromptFT" in notice
    size = sum((PACK / name).stat().st_size for name in pack_files())
    assert size < 4_000_000, f"the pack grew to {size} bytes"


def test_pack_rows_are_the_quickstart_rows_byte_for_byte(shared_data, tiny_model_dir, tmp_path):
    """Every pack file holds the rows Experiment.row_ids picks from ../shared/data, in source order:
    TSV lines and JSON records (with their keys) as the same bytes."""
    exp = Experiment(load_config(QUICKSTART, tiny(tiny_model_dir)), tmp_path, shared_data)
    uses = script().used_rows(exp)
    assert set(uses) == set(pack_files()) - {"NOTICE"}
    assert {f"xnli/test-{lang}.tsv" for lang in XNLI_LANGUAGES} <= set(uses)
    for name, (task, split, lang, ids) in uses.items():
        assert ids == sorted(ids) and pack_files()[name]["source"]["row_ids"] == ids
        source, packed = (shared_data / name).read_bytes(), (PACK / name).read_bytes()
        if name.endswith(".json"):
            keys = list(json.loads(source))
            records = json.loads(packed)
            assert list(records) == [keys[i] for i in ids], name
            for key, record in records.items():  # the record's text, exactly as it stands in both files
                block = f'    "{key}": ' + json.dumps(record, indent=4, ensure_ascii=True).replace("\n", "\n    ")
                assert block.encode() in source and block.encode() in packed, (name, key)
        else:
            lines = [line for line in source.splitlines(keepends=True) if line.strip()]
            assert packed.splitlines(keepends=True) == [lines[i] for i in ids], name


def test_pack_gives_a_run_the_same_examples_as_the_full_data(shared_data, tiny_model_dir, tmp_path):
    cfg = load_config(QUICKSTART, tiny(tiny_model_dir))
    full = Experiment(cfg, tmp_path, shared_data)
    pack = Experiment(cfg, tmp_path, packs.resolve_data_dir(cfg.data.dir, cfg))
    for name, (task, split, lang, ids) in script().used_rows(full).items():
        on_pack = pack.row_ids(task, split, lang)
        assert on_pack == list(range(len(ids)))  # the sample takes every pack row, in order
        assert [pack.split(task, split, lang).examples[i] for i in on_pack] == \
            [full.split(task, split, lang).examples[i] for i in ids], name


def test_script_rebuilds_the_shipped_pack_exactly(shared_data, tiny_model_dir, tmp_path):
    out = script().build_pack(shared_data, tmp_path / "quickstart", overrides=tiny(tiny_model_dir))
    built = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    shipped = {p.relative_to(PACK).as_posix(): p.read_bytes() for p in sorted(PACK.rglob("*")) if p.is_file()}
    assert built.keys() == shipped.keys()
    assert [name for name in built if built[name] != shipped[name]] == []


@pytest.mark.integration  # two runs that tokenise 4000 training rows each (about a minute on 2 busy cores)
def test_tiny_quickstart_from_the_pack_equals_the_same_run_on_the_full_data(shared_data, tiny_model_dir, tmp_path,
                                                                            adaptx_home):
    # one strategy and two languages: tokenising the 4000 training rows with the tiny vocabulary dominates
    overrides = tiny(tiny_model_dir, "languages=[de, sw]", "strategies=[none]", "train.target_steps=3",
                     "train.batch_size=4")
    from_pack = run_experiment(QUICKSTART, out_dir=tmp_path / "pack", overrides=overrides)  # no data folder given
    from_full = run_experiment(QUICKSTART, data_dir=shared_data, out_dir=tmp_path / "full", overrides=overrides)

    def scores(run):
        records = json.loads((run / "results.json").read_text())
        return [(r["strategy"], r["language"], r["value"], json.loads((run / r["predictions"]).read_text())
                 [r["language"]]["pred"]) for r in records]

    assert scores(from_pack) == scores(from_full)
    assert (from_pack / "results.md").read_text() == (from_full / "results.md").read_text()
    resolved = yaml.safe_load((from_pack / "config.yaml").read_text())
    assert resolved["data"]["dir"] == "builtin:quickstart"  # the name the config used, not an install path


@pytest.mark.parametrize("override, match", [
    ("data.max_eval_examples=200", r"data.max_eval_examples: 200 \(the pack: 100\)"),
    ("data.sample_seed=1", r"data.sample_seed: 1 \(the pack: 0\)"),
    ("data.eval_split=dev", r"data.eval_split: 'dev' \(the pack: None\)"),
    ("intermediate_tasks=[sst2]", r"intermediate_tasks \['sst2'\]"),
    ("target_task=pawsx", r"target_task \['pawsx'\] \(the pack: \['xnli'\]\)"),
    ("target_task=[xnli, pawsx]", r"target_task \['pawsx'\]"),
])
def test_runs_that_would_sample_other_rows_are_refused(override, match):
    cfg = load_config(QUICKSTART, [override])
    with pytest.raises(AdaptxError, match=r"builtin:quickstart holds only the rows that configs/quickstart.yaml "
                                          r"samples, but this run sets .*" + match):
        packs.resolve_data_dir(cfg.data.dir, cfg)


def test_settings_that_keep_the_rows_are_accepted():
    for overrides in (["languages=[de, sw]"], ["strategies=[none, full-none]", "intermediate_tasks=[sst2]"],
                      ["train.target_steps=10", "seeds=[0, 1]"]):
        cfg = load_config(QUICKSTART, overrides)
        assert packs.resolve_data_dir(cfg.data.dir, cfg) == PACK


def test_unknown_pack_and_damaged_pack(tmp_path, monkeypatch):
    with pytest.raises(AdaptxError, match=r"no built-in data pack 'quickstrat'; built-in packs: builtin:quickstart"):
        packs.resolve_data_dir("builtin:quickstrat")
    copy = tmp_path / "packs"
    shutil.copytree(packs.PACKS_DIR, copy)
    monkeypatch.setattr(packs, "PACKS_DIR", copy)
    with open(copy / "quickstart" / "xnli" / "test-de.tsv", "a", encoding="utf-8") as handle:
        handle.write("one\tmore\tneutral\n")
    with pytest.raises(AdaptxError, match=r"does not match its adaptx-manifest.json "
                                          r"\(changed: xnli/test-de.tsv.*reinstall"):
        packs.resolve_data_dir("builtin:quickstart")


def test_other_configs_still_need_a_data_folder(tiny_model_dir, tmp_path, adaptx_home):
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"base_model": str(tiny_model_dir), "strategies": ["none"],
                                      "max_seq_length": 16}))
    with pytest.raises(AdaptxError, match=r"no data folder is set: pass --data-dir DIR .*adaptx data pull"):
        run_experiment(config, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_built_wheel_contains_the_pack(tmp_path):
    """`pip install .` (not only editable installs) ships the pack: build a wheel from a copy of
    the project, offline, and look inside."""
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "adaptx", src / "adaptx", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index",
                             "-q", "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"wheel build failed: {result.stderr[-2000:]}")
    wheel, = (tmp_path / "dist").glob("adaptx-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"adaptx/packs/quickstart/{name}" for name in [*pack_files(), MANIFEST]}
    assert expected - inside == set()
    assert get_task("xnli").spec("local", "eval-test", "de").path.format(lang="de") in pack_files()
