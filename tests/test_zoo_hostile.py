"""Issue 19 (part B): the zoo and safetensors files hold against hostile input -- headers with bad
offsets or deep nesting, malformed metadata files, symbolic links, exports into the zoo, a zoo
path that is a file, mistyped index records and failed pulls. Every refusal is a clear one-line
error (never a traceback), comes before a run folder is written, and leaves the zoo as it was."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import save_file

from adaptx import pipeline, zoo, zoo_rescore
from adaptx.cli import main
from adaptx.errors import AdaptxError
from adaptx.fingerprint import sha256_file
from adaptx.safetensors_check import MAX_HEADER_BYTES, check_safetensors, safetensors_problem
from tiny_data import write_tiny_data

CONFIG = {
    "intermediate_tasks": ["qqp"], "target_task": "xnli", "languages": ["en", "de"], "strategies": ["stack"],
    "max_seq_length": 16, "train": {"intermediate_steps": 2, "target_steps": 2, "batch_size": 4, "checkpoint_every": 1},
    "data": {"max_eval_examples": 6, "max_dev_examples": 6},
}
DEEP = b"[" * 100_000 + b"]" * 100_000  # past Python's recursion limit for json.loads


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """A finished tiny run: the qqp intermediate adapter and the xnli stack on it (read-only)."""
    root = tmp_path_factory.mktemp("hostile-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAPTX_HOME", str(root / "home"))
        data = write_tiny_data(root / "data")
        config = root / "exp.yaml"
        config.write_text(yaml.safe_dump({**CONFIG, "base_model": str(tiny_model_dir)}))
        pipeline.run_experiment(config, data_dir=data, out_dir=root / "run")
    stages = {p.name.rsplit("-", 1)[0]: p for p in (root / "run" / "stages").iterdir()}
    return {"data": data, "stages": stages, "model": tiny_model_dir}


@pytest.fixture
def zoo_dir(tmp_path, adaptx_home, monkeypatch):
    path = tmp_path / "zoo"
    monkeypatch.setenv("ADAPTX_ZOO", str(path))
    return path


def add(trained, root, stage="intermediate-adapter-qqp-s0", name="qqp-tiny"):
    assert main(["zoo", "add", str(trained["stages"][stage]), "--name", name, "--zoo", str(root)]) == 0
    return root / name


def fails(capsys, argv, *messages):
    """The command exits 1 with one `adaptx: ...` message holding every fragment, and no traceback."""
    capsys.readouterr()
    assert main(argv) == 1, argv
    err = capsys.readouterr().err
    assert err.startswith("adaptx: ") and "Traceback" not in err, err
    assert all(m in err for m in messages), err
    return err


def forge(entry: Path, rel: str, content: bytes) -> Path:
    """Replace a file of an entry and make card and index agree with it: a consistent forgery, so only
    checks of the file's content can catch it (the sha256s all match)."""
    path = entry / rel
    path.write_bytes(content)
    card = json.loads((entry / "card.json").read_text())
    card["files"][rel] = sha256_file(path)
    for part in [card["adapter"] or {}, *card["members"]]:
        if part.get("weights") == rel:
            part["sha256"] = card["files"][rel]
    (entry / "card.json").write_text(json.dumps(card))
    index = json.loads((entry.parent / "index.json").read_text())
    index["entries"][entry.name] = zoo.index_record(zoo.Card.of(card), sha256_file(entry / "card.json"))
    (entry.parent / "index.json").write_text(json.dumps(index))
    return path


def adapter_rel(entry: Path, name: str) -> str:
    card = json.loads((entry / "card.json").read_text())
    return f"{card['adapter']['folder']}/{name}"


def raw_header(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def with_header(header, data: bytes = b"") -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def overlapping_offsets(path: Path) -> bytes:
    """The same tensors with the second one's offsets pointing at the first one's bytes."""
    header, data = raw_header(path)
    a, b = [k for k in header if k != "__metadata__"][:2]
    header[b] = dict(header[a])
    return with_header(header, data)


# -- the safetensors check itself ---------------------------------------------------------
def _sound(tmp_path) -> tuple[dict, bytes]:
    path = tmp_path / "sound.safetensors"
    save_file({"a": torch.zeros(3), "b": torch.ones(2, 2, dtype=torch.bfloat16), "empty": torch.zeros(0)}, str(path),
              metadata={"format": "pt"})
    assert safetensors_problem(path) is None
    check_safetensors(path)  # no error
    return raw_header(path)


def _edit(field, value, tensor="a"):
    def edit(header, data):
        header[tensor] = {**header[tensor], field: value}
        return with_header(header, data)
    return edit


@pytest.mark.parametrize("make, expected", [
    (lambda h, d: with_header({**h, "b": dict(h["a"])}, d), "tensor 'b': data_offsets [0, 12] overlaps the tensor "
                                                             "before it"),
    (lambda h, d: with_header({**h, "a": {**h["a"], "data_offsets": [4, 16]}}, d), "tensor 'a': data_offsets"),
    (lambda h, d: with_header({k: v for k, v in h.items() if k != "a"}, d), "leaves a gap at byte 0"),
    (lambda h, d: with_header(h, d + b"\0"), "the tensors cover 20 bytes of a 21-byte data section"),
    (lambda h, d: with_header(h, d[:-1]), "of a 19-byte data section"),
    (_edit("shape", [4]), "F32 of shape [4] needs 16"),
    (_edit("shape", [10 ** 4000, 10 ** 4000]), "needs far more"),
    (_edit("shape", [True, 3]), "expected a list of non-negative integers"),
    (_edit("shape", [-3]), "expected a list of non-negative integers"),
    (_edit("shape", [[[[[[[[[3]]]]]]]]]), "expected a list of non-negative integers"),
    (_edit("dtype", "F4"), "dtype 'F4'; expected one of"),
    (_edit("data_offsets", [0, 12, 20]), "expected [begin, end]"),
    (_edit("data_offsets", [12, 0]), "expected [begin, end]"),
    (lambda h, d: with_header({**h, "__metadata__": {"k": 1}}, d), "__metadata__ must map strings to strings"),
    (lambda h, d: with_header(b'{"a": ' + DEEP + b"}", d), "its header is JSON nested too deeply"),
    (lambda h, d: with_header(b"\xff\xfe{}", d), "its header is not UTF-8 JSON"),
    (lambda h, d: with_header(b"[1, 2]", d), "its header is a JSON list, not an object"),
    (lambda h, d: (MAX_HEADER_BYTES + 1).to_bytes(8, "little") + b"{}", "over the format's limit of 100000000"),
    (lambda h, d: (10 ** 6).to_bytes(8, "little") + b"{}", "header length 1000000 bytes in a file of 10 bytes"),
    (lambda h, d: b"\x01\x02", "2 bytes, shorter than the 8-byte header length"),
])
def test_the_safetensors_check_refuses_what_the_library_refuses_with_one_clear_line(tmp_path, make, expected):
    header, data = _sound(tmp_path)
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(make(header, data))
    started = time.perf_counter()
    problem = safetensors_problem(path)
    assert time.perf_counter() - started < 2.0  # bounded work, whatever the header holds
    assert problem and problem.startswith(f"{path}: not a safetensors file (") and expected in problem, problem
    assert "\n" not in problem and len(problem) < 400
    with pytest.raises(AdaptxError, match="not a safetensors file"):
        check_safetensors(path)
    with pytest.raises(Exception):  # noqa: B017 - the library refuses it too: a run would have crashed here
        with safe_open(str(path), framework="pt") as handle:
            [handle.get_tensor(k) for k in handle.keys()]


def test_the_safetensors_check_is_stricter_than_the_library_on_duplicate_keys_and_odd_files(tmp_path):
    tensor = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
    path = tmp_path / "dup.safetensors"
    path.write_bytes(with_header(b'{"a": %s, "a": %s}' % (json.dumps(tensor).encode(), json.dumps(tensor).encode()),
                                 b"\0" * 4))
    assert "the header names 'a' twice" in safetensors_problem(path)  # two readers could pick different ones
    torch.save({"x": torch.zeros(1)}, tmp_path / "pickle.safetensors")
    assert "not a safetensors file (header length" in safetensors_problem(tmp_path / "pickle.safetensors")
    assert "unreadable" in safetensors_problem(tmp_path / "absent.safetensors")
    os.mkfifo(tmp_path / "fifo.safetensors")  # opening it would block forever
    assert "not a regular file" in safetensors_problem(tmp_path / "fifo.safetensors")


def test_every_shipped_and_freshly_saved_safetensors_file_passes(trained):
    shipped = Path(__file__).resolve().parents[1] / "adapter_zoo"
    files = [*shipped.rglob("*.safetensors"), *trained["model"].rglob("*.safetensors"),
             *(p for stage in trained["stages"].values() for p in stage.rglob("*.safetensors"))]
    assert len(files) >= 4 and [safetensors_problem(p) for p in files] == [None] * len(files)


# -- item 4: the zoo uses the full check in verify, show, pull and resolution -------------
def test_a_header_with_bad_offsets_fails_verify_show_and_pull_and_a_run_before_its_folder(
        trained, zoo_dir, tmp_path, monkeypatch, capsys):
    entry = add(trained, zoo_dir)
    rel = adapter_rel(entry, "adapter.safetensors")
    hub = tmp_path / "hub" / "me" / "adapters"
    shutil.copytree(entry, hub / entry.name)  # a good copy on the "hub", forged below
    forge(entry, rel, overlapping_offsets(entry / rel))
    fails(capsys, ["zoo", "verify"], f"{entry / rel}: not a safetensors file (tensor ")
    fails(capsys, ["zoo", "show", "qqp-tiny"], "failed verification", "not a safetensors file")

    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "base_model": str(trained["model"]),
                                      "intermediate_tasks": ["zoo:qqp-tiny"]}))
    with pytest.raises(AdaptxError, match=r"zoo entry 'qqp-tiny' .* failed verification:\n.*not a safetensors file"):
        pipeline.run_experiment(config, data_dir=trained["data"], out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()

    import huggingface_hub

    def snapshot_download(repo_id, *, local_dir, allow_patterns=None, revision=None, **kwargs):
        shutil.copytree(tmp_path / "hub" / repo_id, local_dir, dirs_exist_ok=True)
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    (hub / entry.name / rel).write_bytes(overlapping_offsets(hub / entry.name / rel))  # card updated: sha256 agrees
    card = json.loads((hub / entry.name / "card.json").read_text())
    card["files"][rel] = card["adapter"]["sha256"] = sha256_file(hub / entry.name / rel)
    (hub / entry.name / "card.json").write_text(json.dumps(card))
    other = tmp_path / "other-zoo"
    fails(capsys, ["zoo", "pull", "me/adapters", "qqp-tiny", "--zoo", str(other)],
          "failed verification; nothing was added", "not a safetensors file (tensor ")
    assert not other.exists()


def test_a_deeply_nested_safetensors_header_is_a_problem_not_a_traceback(trained, zoo_dir, capsys):
    entry = add(trained, zoo_dir)
    forge(entry, "head.safetensors", with_header(b'{"w": ' + DEEP + b"}"))
    fails(capsys, ["zoo", "verify", "qqp-tiny"], "head.safetensors: not a safetensors file (its header is JSON "
                                                 "nested too deeply)")
    fails(capsys, ["zoo", "show", "qqp-tiny"], "nested too deeply")


# -- item 5: the metadata files a run loads are checked when zoo: references are resolved --
@pytest.mark.parametrize("file, content, message", [
    ("adaptx-adapter.json", b'{"name": "x", ', "adaptx-adapter.json is unreadable (JSONDecodeError"),
    ("adaptx-adapter.json", b'{"name": "x"}', "adaptx-adapter.json: field 'base_fingerprint' is missing or not a JSON "
                                              "object"),
    ("adapter_config.json", b"[]", "adapter_config.json: expected a JSON object, found list"),
    ("adapter_config.json", b'{"config": ' + DEEP + b"}", "adapter_config.json is unreadable (JSON nested too deeply)"),
])
def test_a_malformed_metadata_file_of_a_zoo_adapter_stops_a_run_before_any_stage(
        trained, zoo_dir, tmp_path, file, content, message, capsys):
    entry = add(trained, zoo_dir)
    forge(entry, adapter_rel(entry, file), content)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "base_model": str(trained["model"]),
                                      "intermediate_tasks": ["zoo:qqp-tiny"]}))
    capsys.readouterr()
    with pytest.raises(AdaptxError, match="failed verification") as caught:
        pipeline.run_experiment(config, data_dir=trained["data"], out_dir=tmp_path / "run")
    assert message in str(caught.value) and str(entry / adapter_rel(entry, file)) in str(caught.value)
    assert not (tmp_path / "run").exists() and "\n+ " not in capsys.readouterr().out  # nothing trained
    fails(capsys, ["zoo", "verify", "qqp-tiny"], message)


def test_a_card_whose_adapter_folder_lacks_a_loaded_file_is_refused(trained, zoo_dir):
    entry = add(trained, zoo_dir)
    rel = adapter_rel(entry, "adaptx-adapter.json")
    (entry / rel).unlink()
    card = json.loads((entry / "card.json").read_text())
    del card["files"][rel]
    (entry / "card.json").write_text(json.dumps(card))
    found = zoo.verify_zoo(zoo_dir, rebuild_index=True)[1]
    assert any("its folder must hold adapter.safetensors, adapter_config.json, adaptx-adapter.json" in p
               for p in found), found


# -- item 8: add follows no symbolic link -------------------------------------------------
@pytest.mark.parametrize("link", ["file", "folder"])
def test_zoo_add_refuses_a_symbolic_link_in_the_stage_folder(trained, zoo_dir, tmp_path, link, capsys):
    stage = tmp_path / "stages" / trained["stages"]["intermediate-adapter-qqp-s0"].name
    shutil.copytree(trained["stages"]["intermediate-adapter-qqp-s0"], stage)
    secret = tmp_path / "secret.json"
    secret.write_text('{"token": "hf_not_for_publishing"}')
    if link == "file":  # a metadata file swapped for a link to a private file
        victim = stage / "model" / "setup.json"
        setup = victim.read_text()
        secret.write_text(setup[:-1] + ', "token": "hf_not_for_publishing"}')
        victim.unlink()
        victim.symlink_to(secret)
    else:  # the whole adapter folder a link
        (folder,) = (stage / "model").glob("adapter-*")
        moved = tmp_path / "elsewhere"
        folder.rename(moved)
        victim = folder
        victim.symlink_to(moved, target_is_directory=True)
    fails(capsys, ["zoo", "add", str(stage), "--name", "leak"], f"{victim}: a symbolic link (to ",
          "the zoo publishes plain files only")
    assert not zoo_dir.exists()  # nothing published, not even the zoo folder this add would have created


# -- item 14: export into the entry, symlinked entries, remove --------------------------
def test_export_into_the_entry_or_the_zoo_is_refused_and_the_entry_still_verifies(trained, zoo_dir, tmp_path, capsys):
    entry = add(trained, zoo_dir)
    (tmp_path / "via-link").symlink_to(entry, target_is_directory=True)
    own, beside = f"the entry itself ({entry})", f"the zoo folder {zoo_dir}"
    for out, where in [(entry / "exported", own), (entry / "a" / "b", own), (tmp_path / "via-link" / "x", own),
                       (zoo_dir / "copy", beside)]:
        fails(capsys, ["zoo", "export", "qqp-tiny", str(out)], f"export folder {out} is inside {where}")
    assert zoo.verify_zoo(zoo_dir)[1] == [] and sorted(p.name for p in zoo_dir.iterdir()) == ["index.json", "qqp-tiny"]
    assert main(["zoo", "export", "qqp-tiny", str(tmp_path / "outside")]) == 0


def test_a_symlinked_entry_fails_verify_and_remove_takes_only_the_link(trained, zoo_dir, tmp_path, capsys):
    entry = add(trained, zoo_dir)
    target = tmp_path / "real-entry"
    entry.rename(target)
    entry.symlink_to(target, target_is_directory=True)
    fails(capsys, ["zoo", "verify"], f"{entry}: the entry folder is a symbolic link (to {target})")
    fails(capsys, ["zoo", "show", "qqp-tiny"], "the entry folder is a symbolic link")
    assert main(["zoo", "remove", "qqp-tiny"]) == 0
    assert not os.path.lexists(entry) and (target / "card.json").is_file()  # the link went, its target stayed
    assert json.loads((zoo_dir / "index.json").read_text())["entries"] == {}
    assert sorted(p.name for p in zoo_dir.iterdir()) == ["index.json"]  # no hidden leftover

    (zoo_dir / "gone").symlink_to(tmp_path / "nowhere", target_is_directory=True)  # dangling, not in the index
    assert main(["zoo", "remove", "gone"]) == 0 and not os.path.lexists(zoo_dir / "gone")


def test_a_symlinked_file_inside_an_entry_fails_verify(trained, zoo_dir, tmp_path, capsys):
    entry = add(trained, zoo_dir)
    outside = tmp_path / "head.safetensors"
    shutil.copyfile(entry / "head.safetensors", outside)
    (entry / "head.safetensors").unlink()
    (entry / "head.safetensors").symlink_to(outside)
    fails(capsys, ["zoo", "verify"], f"{entry / 'head.safetensors'}: a symbolic link")


# -- item 17 (part): --zoo naming a file, mistyped index records, failed pulls -----------
def test_a_zoo_path_that_is_a_file_is_a_clear_error_for_every_command(trained, tmp_path, adaptx_home, monkeypatch,
                                                                      capsys):
    monkeypatch.delenv("ADAPTX_ZOO", raising=False)
    afile = tmp_path / "zoo.txt"
    afile.write_text("not a zoo")
    stage = str(trained["stages"]["intermediate-adapter-qqp-s0"])
    for argv in (["zoo", "add", stage, "--name", "x"], ["zoo", "pull", "me/adapters", "x"], ["zoo", "list"],
                 ["zoo", "verify"], ["zoo", "show", "x"], ["zoo", "remove", "x"]):
        fails(capsys, [*argv, "--zoo", str(afile)], f"zoo folder {afile} is a file, not a folder; point --zoo")
    monkeypatch.setenv("ADAPTX_ZOO", str(afile))
    fails(capsys, ["zoo", "list"], "point $ADAPTX_ZOO at a zoo folder")
    fails(capsys, ["zoo", "add", stage, "--name", "x", "--zoo", str(afile / "sub")], "cannot create the zoo folder")
    assert afile.read_text() == "not a zoo"


def test_zoo_list_reports_mistyped_index_records_and_lists_the_rest(trained, zoo_dir, capsys):
    add(trained, zoo_dir)
    index = json.loads((zoo_dir / "index.json").read_text())
    good = index["entries"]["qqp-tiny"]
    index["entries"].update({"as-list": [1, 2], "as-string": "qqp", "typed-wrong": {**good, "en_dev": 0.5},
                             "members-wrong": {**good, "members": [3]}, "bad|name": good, "..": good})
    (zoo_dir / "index.json").write_text(json.dumps(index))
    capsys.readouterr()
    assert main(["zoo", "list"]) == 1
    out, err = capsys.readouterr()
    assert "| qqp-tiny | 1 |" in out and [line for line in out.splitlines() if line.endswith("| user |")] == [
        line for line in out.splitlines() if "| qqp-tiny |" in line]  # of the user zoo's rows, the one good one
    for message in ("the record of 'as-list' is a JSON list, not an object",
                    "the record of 'as-string' is a JSON str, not an object",
                    "the record of 'typed-wrong' has missing or mistyped fields (en_dev)",
                    "the record of 'members-wrong' has missing or mistyped fields (members)",
                    "the record name 'bad|name' is not a zoo entry name",
                    "the record name '..' is not a zoo entry name"):
        assert message in err, err
    assert "Traceback" not in err and err.count("run `adaptx zoo verify --rebuild-index`") == 6
    fails(capsys, ["zoo", "verify"], "the record of 'as-list' is a JSON list", "the record name '..' is not")
    assert main(["zoo", "verify", "--rebuild-index"]) == 0  # drops every bad record, '..' (a folder!) included
    assert list(json.loads((zoo_dir / "index.json").read_text())["entries"]) == ["qqp-tiny"]
    assert main(["zoo", "list"]) == 0


def test_deeply_nested_cards_and_indexes_are_clear_errors(trained, zoo_dir, capsys):
    entry = add(trained, zoo_dir)
    index = (zoo_dir / "index.json").read_bytes()
    (zoo_dir / "index.json").write_bytes(b'{"format": "adaptx-zoo-index/1", "entries": ' + DEEP + b"}")
    fails(capsys, ["zoo", "list"], "index.json is unreadable (JSON nested too deeply)")
    fails(capsys, ["zoo", "verify"], "index.json is unreadable (JSON nested too deeply)")
    (zoo_dir / "index.json").write_bytes(index)
    (entry / "card.json").write_bytes(b'{"format": ' + DEEP + b"}")
    fails(capsys, ["zoo", "verify"], "card.json is unreadable (JSON nested too deeply)")
    fails(capsys, ["zoo", "show", "qqp-tiny"], "card.json is unreadable (JSON nested too deeply)")


def test_a_failed_pull_or_add_leaves_no_zoo_folder_behind(trained, tmp_path, adaptx_home, capsys):
    new = tmp_path / "new" / "zoo"
    fails(capsys, ["zoo", "pull", "me/adapters", "x", "--zoo", str(new)], "cannot download 'x' from the hub repo")
    assert not (tmp_path / "new").exists()  # offline (conftest sets HF_HUB_OFFLINE): neither folder it created
    fails(capsys, ["zoo", "add", str(tmp_path / "nowhere"), "--name", "x", "--zoo", str(new)], "does not exist")
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "kept"
    existing.mkdir()
    fails(capsys, ["zoo", "pull", "me/adapters", "x", "--zoo", str(existing)], "cannot download")
    assert existing.is_dir() and list(existing.iterdir()) == []  # a folder that was there stays


def test_rescoring_a_card_with_mistyped_data_fields_is_a_clear_error(trained, zoo_dir):
    entry = add(trained, zoo_dir)
    card = json.loads((entry / "card.json").read_text())
    card["training"]["data"]["dev_rows"] = "6"
    card["metrics"]["en_dev"]["value"] = None
    (entry / "card.json").write_text(json.dumps(card))
    zoo.verify_zoo(zoo_dir, rebuild_index=True)
    with pytest.raises(AdaptxError, match=r"zoo:qqp-tiny: its card has missing or mistyped fields for rescoring "
                                          r"\(training.data.dev_rows, metrics.en_dev.value\)"):
        zoo_rescore.rescore_entry(zoo_dir, "qqp-tiny", trained["data"], "cpu")
