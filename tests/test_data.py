import pytest

from adaptx.data import load_split
from adaptx.errors import AdaptxError
from adaptx.tasks import get_task
from tiny_data import write_tiny_data


@pytest.fixture
def data_dir(tmp_path):
    return write_tiny_data(tmp_path / "data")


def test_reads_every_local_format(data_dir):
    xnli = get_task("xnli")
    train = load_split(xnli, "train", "en", "local", data_dir)  # XNLI trains on MNLI (json records)
    assert len(train) == 24 and all(0 <= e.label < 3 for e in train) and train[0].text_b
    test_de = load_split(xnli, "eval-test", "de", "local", data_dir, limit=5)
    assert len(test_de) == 5
    sst2 = load_split(get_task("sst2"), "train", "en", "local", data_dir)
    assert sst2[0].text_b is None and {e.label for e in sst2} <= {0, 1}
    qqp = load_split(get_task("qqp"), "dev", "en", "local", data_dir)
    assert {e.label for e in qqp} <= {0, 1}


def test_crlf_and_quotes_survive(tmp_path):
    (tmp_path / "paws_en").mkdir()
    (tmp_path / "paws_en" / "paws_wiki_final_test.tsv").write_bytes(
        b'1\tHe said "hi .\tHe said hi .\t1\r\n2\tA b\tB a\t0\r\n')
    rows = load_split(get_task("pawsx"), "train", "en", "local", tmp_path)
    assert [(r.text_a, r.label) for r in rows] == [('He said "hi .', 1), ("A b", 0)]


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
    rows = load_split(get_task("xnli"), "eval-test", "de", "hub", limit=2)
    assert [(r.text_a, r.label) for r in rows] == [("a", 2), ("b", 0)]
    assert calls[0] == (("facebook/xnli", "de"), {"split": "test[:2]"})
