import shutil
from collections import Counter

import pytest

from adaptx.data import load_split, sample_ids
from adaptx.errors import AdaptxError
from adaptx.tasks import get_task
from tiny_data import write_tiny_data


@pytest.fixture
def data_dir(tmp_path):
    return write_tiny_data(tmp_path / "data")


def test_reads_every_local_format(data_dir):
    xnli = get_task("xnli")
    train = load_split(xnli, "train", "en", "local", data_dir).examples  # XNLI trains on MNLI (json records)
    assert len(train) == 24 and all(0 <= e.label < 3 for e in train) and train[0].text_b
    test_de = load_split(xnli, "eval-test", "de", "local", data_dir)
    assert len(test_de.examples) == 24 and test_de.origin.endswith("xnli/test-de.tsv")
    sst2 = load_split(get_task("sst2"), "train", "en", "local", data_dir).examples
    assert sst2[0].text_b is None and {e.label for e in sst2} <= {0, 1}
    qqp = load_split(get_task("qqp"), "dev", "en", "local", data_dir).examples
    assert {e.label for e in qqp} <= {0, 1}


def test_digest_follows_the_content_not_the_name(data_dir, tmp_path):
    xnli = get_task("xnli")
    before = load_split(xnli, "eval-test", "de", "local", data_dir).digest
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    assert load_split(xnli, "eval-test", "de", "local", copy).digest == before
    path = copy / "xnli" / "test-de.tsv"
    path.write_text(path.read_text().replace("cat", "dog", 1))
    assert load_split(xnli, "eval-test", "de", "local", copy).digest != before


def test_crlf_and_quotes_survive(tmp_path):
    (tmp_path / "paws_en").mkdir()
    (tmp_path / "paws_en" / "paws_wiki_final_test.tsv").write_bytes(
        b'1\tHe said "hi .\tHe said hi .\t1\r\n2\tA b\tB a\t0\r\n')
    rows = load_split(get_task("pawsx"), "train", "en", "local", tmp_path).examples
    assert [(r.text_a, r.label) for r in rows] == [('He said "hi .', 1), ("A b", 0)]


def test_pawsx_labeled_test_files_with_a_header(tmp_path):
    (tmp_path / "pawsx" / "labeled").mkdir(parents=True)
    (tmp_path / "pawsx" / "labeled" / "test-de.hf.tsv").write_text("id\tsentence1\tsentence2\tlabel\n7\tA\tB\t1\n")
    rows = load_split(get_task("pawsx"), "eval-test", "de", "local", tmp_path).examples
    assert [(r.text_a, r.text_b, r.label) for r in rows] == [("A", "B", 1)]
    with pytest.raises(AdaptxError, match="no 'eval-test' split for language 'es'"):
        load_split(get_task("pawsx"), "eval-test", "es", "local", tmp_path)


@pytest.mark.parametrize("content, match", [
    ('["just", "strings"]', r"ppft_train_subset.json, record 1: expected an object with fields, got str"),
    ('42', r"ppft_train_subset.json: expected a JSON object of records .*got a int"),
    ('{"0": {"text_a": null, "text_b": "b", "label": 0}}', r"record 1: field 'text_a' is null \(None\); expected text"),
    ('{"0": {"text_a": "a", "text_b": 3, "label": 0}}', r"record 1: field 'text_b' is int \(3\); expected text"),
    ('{"0": {"text_a": "a", "text_b": "b", "label": null}}', r"record 1: label None is not in mnli's label set"),
    ('{"0": {"text_a": "a"', r"ppft_train_subset.json: not valid JSON"),
])
def test_broken_json_records_are_named(data_dir, content, match):
    (data_dir / "mnli" / "ppft_train_subset.json").write_text(content)
    with pytest.raises(AdaptxError, match=match):
        load_split(get_task("mnli"), "train", "en", "local", data_dir)


def test_file_that_is_not_utf8(data_dir):
    (data_dir / "xnli" / "test-de.tsv").write_bytes("caf\xe9\tb\tneutral\n".encode("latin-1"))
    with pytest.raises(AdaptxError, match=r"test-de.tsv: not UTF-8 text"):
        load_split(get_task("xnli"), "eval-test", "de", "local", data_dir)


def test_samples_are_seeded_stratified_and_respect_exclusions():
    labels = [0] * 60 + [1] * 30 + [2] * 10
    first = sample_ids(labels, 20, seed=0)
    assert first == sample_ids(labels, 20, seed=0) and first != sample_ids(labels, 20, seed=1)
    assert first == sorted(first) and len(set(first)) == 20
    assert Counter(labels[i] for i in first) == {0: 12, 1: 6, 2: 2}  # the file's proportions
    assert max(first) > 50  # not the first rows of the file
    held = set(range(0, 100, 2))
    assert not held & set(sample_ids(labels, 20, seed=0, exclude=held))
    assert sample_ids(labels, None, seed=0, exclude={1, 2}) == [i for i in range(100) if i not in (1, 2)]
    assert sample_ids(labels, 500, seed=0) == list(range(100))


def test_label_outside_the_label_set_names_file_and_line(data_dir):
    path = data_dir / "xnli" / "test-sw.tsv"
    lines = path.read_text().splitlines()
    lines[3] = "a\tb\tmaybe"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AdaptxError, match=r"test-sw.tsv, line 4: label 'maybe' is not in xnli's label set"):
        load_split(get_task("xnli"), "eval-test", "sw", "local", data_dir)


def test_short_row_names_fields(data_dir):
    path = data_dir / "xnli" / "dev-en.tsv"
    path.write_text("only one column\n")
    with pytest.raises(AdaptxError, match=r"dev-en.tsv, line 1: expected fields \[0, 1, 2\], found 1 columns"):
        load_split(get_task("xnli"), "dev", "en", "local", data_dir)


def test_missing_file_and_empty_split(data_dir):
    with pytest.raises(AdaptxError, match=r"missing data file .*test-fr.tsv"):
        load_split(get_task("xnli"), "eval-test", "fr", "local", data_dir)
    (data_dir / "xnli" / "test-de.tsv").write_text("")
    with pytest.raises(AdaptxError, match="is empty"):
        load_split(get_task("xnli"), "eval-test", "de", "local", data_dir)


def test_no_data_dir():
    with pytest.raises(AdaptxError, match="--data-dir"):
        load_split(get_task("xnli"), "train", "en", "local", None)


def test_hub_failure_is_clear(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'facebook/xnli' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(AdaptxError, match=r"cannot load facebook/xnli \(de, test\) .*offline\?"):
        load_split(get_task("xnli"), "eval-test", "de", "hub")


def test_hub_rows_are_mapped(monkeypatch):
    import datasets

    fake = datasets.Dataset.from_dict({"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [2, 0]})
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or fake)
    loaded = load_split(get_task("xnli"), "eval-test", "de", "hub")
    assert [(r.text_a, r.label) for r in loaded.examples] == [("a", 2), ("b", 0)]
    assert calls[0] == (("facebook/xnli", "de"), {"split": "test"})
    assert loaded.digest == f"datasets-fingerprint:{fake._fingerprint}"


def test_hub_null_text_is_refused(monkeypatch):
    import datasets

    fake = datasets.Dataset.from_dict({"premise": ["a", None], "hypothesis": ["c", "d"], "label": [2, 0]})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: fake)
    with pytest.raises(AdaptxError, match=r"facebook/xnli \(de, test\), row 1: field 'premise' is null"):
        load_split(get_task("xnli"), "eval-test", "de", "hub")


def _fake_hub(monkeypatch, dataset):
    import datasets

    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or dataset)
    return calls


def test_hub_udpos_rows_in_xtremes_schema(monkeypatch):
    import datasets

    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "pos_tags": datasets.Sequence(datasets.ClassLabel(names=list(get_task("udpos").labels)))})
    ds = datasets.Dataset.from_dict({"tokens": [["the", "cat"]], "pos_tags": [[5, 7]]}, features=features)
    calls = _fake_hub(monkeypatch, ds)
    (sentence,) = load_split(get_task("udpos"), "eval-test", "de", "hub").examples
    assert sentence.words == ["the", "cat"] and sentence.tags == ["DET", "NOUN"]
    assert calls[0][0] == ("google/xtreme", "udpos.German")


def test_hub_panx_rows(monkeypatch):
    import datasets

    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=list(get_task("panx").labels))),
                                  "langs": datasets.Sequence(datasets.Value("string"))})
    ds = datasets.Dataset.from_dict({"tokens": [["Anna", "lebt"]], "ner_tags": [[1, 0]], "langs": [["de", "de"]]},
                                    features=features)
    calls = _fake_hub(monkeypatch, ds)
    (sentence,) = load_split(get_task("panx"), "eval-test", "de", "hub").examples
    assert sentence.tags == ["B-PER", "O"] and calls[0][0] == ("google/xtreme", "PAN-X.de")


def test_hub_qa_rows_and_tydiqa_language_filter(monkeypatch):
    import datasets

    rows = {"id": ["english-1", "arabic-2"], "title": ["t", "t"], "context": ["the cat sat", "قطة"],
            "question": ["who sat", "من"], "answers": [{"text": ["cat"], "answer_start": [4]},
                                                      {"text": ["قطة"], "answer_start": [0]}]}
    calls = _fake_hub(monkeypatch, datasets.Dataset.from_dict(rows))
    examples = load_split(get_task("tydiqa"), "eval-dev", "ar", "hub").examples
    assert [e.id for e in examples] == ["arabic-2"] and examples[0].answers == [("قطة", 0)]
    assert calls[0][0] == ("google/xtreme", "tydiqa")
    (example,) = load_split(get_task("xquad"), "eval-test", "de", "hub").examples[:1]
    assert example.context == "the cat sat"


def test_hub_tatoeba_and_bucc_rows(monkeypatch):
    import datasets

    tatoeba = datasets.Dataset.from_dict({"source_sentence": ["Hallo\n"], "target_sentence": ["Hello\n"],
                                          "source_lang": ["deu"], "target_lang": ["eng"]})
    _fake_hub(monkeypatch, tatoeba)
    (pair,) = load_split(get_task("tatoeba"), "eval-test", "de", "hub").examples
    assert (pair.source, pair.target) == ("Hallo", "Hello")
    bucc = datasets.Dataset.from_dict({"source_sentence": ["Hallo"], "target_sentence": ["Hello"],
                                       "source_lang": ["de-000001"], "target_lang": ["en-000009"]})
    _fake_hub(monkeypatch, bucc)
    loaded = load_split(get_task("bucc"), "eval-dev", "de", "hub")
    assert [(s.id, s.gold) for s in loaded.examples] == [("de-000001", "en-000009")]
    assert loaded.context["targets"] == [("en-000009", "Hello")]
