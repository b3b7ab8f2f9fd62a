"""Issue 19 (part D): data files and data manifests from outside — paths that leave the folder,
links, entries of the wrong type, JSON nested past any real format, byte-order marks, and a BUCC
sample too small to score, refused before anything trains."""

import bz2
import hashlib
import json
import re

import pytest
import yaml

from adaptx import data_manifest, intermediate_readers, pull, readers
from adaptx.cli import main
from adaptx.data import load_split
from adaptx.data_manifest import INCOMPLETE, MANIFEST, read_manifest, verify_folder, write_manifest
from adaptx.errors import AdaptxError
from adaptx.tasks import get_task
from tiny_data import write_tiny_data
from tiny_xtreme import write_tiny_xtreme

BOM = b"\xef\xbb\xbf"


def _entry(path):
    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _folder_with_manifest(tmp_path, files: dict):
    folder = tmp_path / "pulled"
    folder.mkdir()
    (folder / MANIFEST).write_text(json.dumps({"adaptx_data_manifest": 1, "files": files}))
    return folder


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _prepend_bom(path):
    path.write_bytes(BOM + path.read_bytes())


# -- manifests: names that leave the folder, links, entries of the wrong type --------------------

@pytest.mark.parametrize("name, why", [("../secret.txt", "'..'"), ("sub/../../secret.txt", "'..'"),
                                       ("/ABSOLUTE", "absolute path"), ("a\\..\\secret.txt", "backslash"),
                                       ("./x", "empty or '.' part")])
def test_verify_refuses_manifest_names_outside_the_folder_without_reading_them(tmp_path, monkeypatch, name, why):
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    name = name.replace("/ABSOLUTE", str(secret))
    folder = _folder_with_manifest(tmp_path, {name: _entry(secret)})
    read = []
    monkeypatch.setattr(data_manifest, "sha256_file", lambda p: read.append(p) or "0" * 64)
    with pytest.raises(AdaptxError, match=rf"adaptx-manifest.json: 'files' entry .*{why}.*nothing was read"):
        verify_folder(folder)
    assert read == []


def test_data_verify_cli_says_which_entry_is_outside(tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    folder = _folder_with_manifest(tmp_path, {"../secret.txt": _entry(secret)})
    assert main(["data", "verify", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "adaptx: error:" in err and "'../secret.txt'" in err and "Traceback" not in err


@pytest.mark.parametrize("entry, message", [
    (["abc"], r"'files' entry 'a.tsv' is list, expected an object with 'sha256' and 'bytes'"),
    ("abc", r"'files' entry 'a.tsv' is str"),
    ({"sha256": 5, "bytes": 1}, r"'sha256' is '5', expected 64 lowercase hex digits"),
    ({"sha256": "a" * 64, "bytes": "7"}, r"'bytes' is '7', expected the file size"),
    ({"sha256": "a" * 64, "bytes": True}, r"'bytes' is 'True'"),
])
def test_verify_names_a_malformed_manifest_entry(tmp_path, capsys, entry, message):
    folder = _folder_with_manifest(tmp_path, {"a.tsv": entry})
    (folder / "a.tsv").write_text("x\n")
    with pytest.raises(AdaptxError, match=message):
        verify_folder(folder)
    assert main(["data", "verify", str(folder)]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_verify_does_not_follow_links_out_of_the_folder(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.tsv").write_text("secret\n")
    folder = _folder_with_manifest(tmp_path, {"f.tsv": _entry(outside / "f.tsv"),
                                              "sub/f.tsv": _entry(outside / "f.tsv")})
    (folder / "f.tsv").symlink_to(outside / "f.tsv")
    (folder / "sub").symlink_to(outside, target_is_directory=True)
    read = []
    real = data_manifest.sha256_file
    monkeypatch.setattr(data_manifest, "sha256_file", lambda p: read.append(p) or real(p))
    check = verify_folder(folder)
    assert read == []  # neither the linked file nor the one under the linked folder was opened
    assert not check.ok and check.linked == ["f.tsv", "sub/f.tsv"]
    assert any(p.startswith("linked: f.tsv (a symbolic link") for p in check.problems())


def test_incomplete_pull_record_entries_are_checked_too(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / INCOMPLETE).write_text(json.dumps({"adaptx_data_manifest": 1, "files": {},
                                                 "previous": {"../../etc/passwd": {"sha256": "a" * 64, "bytes": 1}}}))
    with pytest.raises(AdaptxError, match=r"'previous' entry '../../etc/passwd': a path with '..'"):
        read_manifest(folder, INCOMPLETE)


def test_pull_refuses_an_out_folder_with_links_or_a_broken_history(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "elsewhere.tsv"
    target.write_text("a\tb\n")
    (out / "x.tsv").symlink_to(target)
    write_manifest(out, {"x.tsv": _entry(target)}, kind="hub-pull")
    with pytest.raises(AdaptxError, match=r"holds files that no `adaptx data pull` wrote \(x.tsv\)"):
        pull._earlier_pull(out)
    (out / "x.tsv").unlink()
    write_manifest(out, {}, kind="hub-pull", pulls={"not": "a list"})
    with pytest.raises(AdaptxError, match="'pulls' of type dict, expected a list"):
        pull._earlier_pull(out)


def test_a_pack_manifest_without_made_for_is_a_message(tmp_path):
    from adaptx.packs import _made_for

    folder = tmp_path / "pack"
    folder.mkdir()
    write_manifest(folder, {}, kind="builtin-pack", made_for={"config": "x.yaml", "targets": "xnli"})
    with pytest.raises(AdaptxError, match=r"lacks or mistypes made_for.data, made_for.targets, made_for.languages"):
        _made_for(folder)


# -- JSON nested past any real format -----------------------------------------------------------

@pytest.mark.parametrize("depth", [150, 200_000])  # past MAX_JSON_DEPTH; past Python's recursion limit
def test_deeply_nested_json_is_a_message_in_every_json_reader(tmp_path, capsys, depth):
    nested = f"more than {readers.MAX_JSON_DEPTH} levels deep"
    squad = tmp_path / "squad.json"
    squad.write_text('{"data": ' + _deep(depth) + "}")
    with pytest.raises(AdaptxError, match=rf"squad.json: JSON nested {nested}"):
        readers.read_squad_json(squad)
    jsonl = tmp_path / "csqa.jsonl"
    jsonl.write_text('\n{"question": ' + _deep(depth) + "}\n")
    with pytest.raises(AdaptxError, match=rf"csqa.jsonl, line 2: JSON nested {nested}"):
        intermediate_readers.read_commonsenseqa(jsonl)
    data = write_tiny_data(tmp_path / "data")
    (data / "qqp" / "ppft_train_subset.json").write_text('{"0": ' + _deep(depth) + "}")
    with pytest.raises(AdaptxError, match=rf"ppft_train_subset.json: JSON nested {nested}"):
        load_split(get_task("qqp"), "train", "en", "local", data)
    folder = tmp_path / "pulled"
    folder.mkdir()
    (folder / MANIFEST).write_text('{"adaptx_data_manifest": 1, "files": {}, "x": ' + _deep(depth) + "}")
    assert main(["data", "verify", str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"adaptx-manifest.json: JSON nested {nested}" in err and "delete the folder and pull again" in err


def test_json_at_a_real_depth_still_reads(tmp_path):
    assert readers.parse_json(_deep(readers.MAX_JSON_DEPTH), "x") is not None
    with pytest.raises(AdaptxError, match="x: not valid JSON"):
        readers.parse_json("[1,", "x")


# -- byte-order marks ----------------------------------------------------------------------------

CONLLU = ("# sent_id = 1\n# text = The cat\n"
          "1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\tNN\t_\t0\troot\t_\t_\n\n")


def test_a_bom_is_not_part_of_the_first_line_of_tagging_files(tmp_path):
    conllu = tmp_path / "en.conllu"
    conllu.write_bytes(BOM + CONLLU.encode())
    assert [s.words for s in readers.read_conllu(conllu)] == [["The", "cat"]]
    tsv = tmp_path / "test-en.tsv"
    tsv.write_bytes(BOM + "The\tDET\ncat\tNOUN\n\n".encode())
    assert readers.read_xtreme_udpos(tsv, allowed_tags={"DET", "NOUN"})[0].words == ["The", "cat"]
    assert readers.read_panx(tsv)[0].words == ["The", "cat"]


def test_a_bom_does_not_hide_bucc_and_tatoeba_ids_and_sentences(tmp_path):
    src, tgt, gold = tmp_path / "zh-en.dev.zh", tmp_path / "zh-en.dev.en", tmp_path / "zh-en.dev.gold"
    src.write_bytes(BOM + "zh-1\t猫\nzh-2\t狗\n".encode())
    tgt.write_bytes(BOM + b"en-1\tcat\nen-2\tdog\n")
    gold.write_bytes(BOM + b"zh-1\ten-1\n")
    data = readers.read_bucc(src, tgt, gold)
    assert data.src_ids == ["zh-1", "zh-2"] and data.tgt_ids == ["en-1", "en-2"] and data.gold == {("zh-1", "en-1")}
    a, b = tmp_path / "tatoeba.deu-eng.deu", tmp_path / "tatoeba.deu-eng.eng"
    a.write_bytes(BOM + "Katze\n".encode())
    b.write_bytes(BOM + b"cat\n")
    assert readers.read_tatoeba(a, b) == (["Katze"], ["cat"])


def test_a_bom_is_not_part_of_a_header_or_json_document(tmp_path):
    data = write_tiny_data(tmp_path / "data")
    for name in ("sst2/alps_train.tsv", "qqp/ppft_train_subset.json"):
        _prepend_bom(data / name)
    assert len(load_split(get_task("sst2"), "train", "en", "local", data).examples) == 24
    assert len(load_split(get_task("qqp"), "train", "en", "local", data).examples) == 24
    squad = tmp_path / "squad.json"
    squad.write_bytes(BOM + json.dumps({"data": [{"paragraphs": [{"context": "a cat", "qas": [
        {"id": "q", "question": "what?", "answers": [{"text": "cat", "answer_start": 2}]}]}]}]}).encode())
    assert readers.read_squad_json(squad)[0].id == "q"


def test_a_bom_is_not_part_of_multiple_choice_and_tag_set_files(tmp_path):
    csv_path = tmp_path / "valid.csv"
    csv_path.write_bytes(BOM + b"id,context,question,answer0,answer1,answer2,answer3,label\n"
                               b"q1,ctx,why?,a,b,c,d,2\n")
    assert intermediate_readers.read_cosmosqa(csv_path)[0].label == 2
    jsonl = tmp_path / "dev.jsonl"
    jsonl.write_bytes(BOM + json.dumps({"id": "c1", "question": "q?", "answerKey": "B", "choices": {
        "label": list("ABCDE"), "text": list("abcde")}}).encode() + b"\n")
    assert intermediate_readers.read_commonsenseqa(jsonl)[0].label == 1
    item = "Ctx: a man\n1\nend0\nend1\nend2\nend3\n".encode()
    for path, data in ((tmp_path / "hs.txt", BOM + item), (tmp_path / "hs.txt.bz2", bz2.compress(BOM + item))):
        path.write_bytes(data)
        assert intermediate_readers.read_hellaswag_txt(path)[0].context == "Ctx: a man"
    tags = tmp_path / "categories"
    tags.write_bytes(BOM + b"N\nS/NP\n")
    assert intermediate_readers.read_tag_set(tags) == ("N", "S/NP")


# -- BUCC: enough gold pairs, checked when the data is read --------------------------------------

@pytest.mark.parametrize("gold_lines, max_eval, fix", [
    (1, None, r"\(1 in the whole split\); bucc needs at least 2 .*give a BUCC split with more gold alignments"),
    (2, 4, r"0 gold pair\(s\) among the 4 sampled .*\(2 in the whole split\).*raise data.max_eval_examples"),
])
def test_bucc_with_too_few_gold_pairs_fails_before_anything_trains(tmp_path, tiny_model_dir, adaptx_home, capsys,
                                                                   gold_lines, max_eval, fix):
    data = write_tiny_xtreme(write_tiny_data(tmp_path / "data"))
    (data / "bucc2018" / "zh-en.dev.gold").write_text("".join(f"zh-{i:06d}\ten-{i:06d}\n"
                                                              for i in range(gold_lines)))
    config = {"base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"], "target_task": "bucc",
              "strategies": ["none", "stack"], "max_seq_length": 32,
              "train": {"intermediate_steps": 2, "batch_size": 4}, "data": {"max_eval_examples": max_eval}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    assert main(["run", str(path), "--data-dir", str(data), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "zh-en.dev.zh" in err and "(zh)" in err and "Traceback" not in err
    assert re.search(fix, err), err
    assert not out.exists()  # refused before the run folder (or any stage) was written
