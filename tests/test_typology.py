"""Distances from English out of URIEL's vectors (lang2vec's data files, offline), the ISO code map,
languages URIEL lacks, and the cited CC-100 table."""

import numpy as np
import pytest

from adaptx.analysis import cc100, typology as typ
from adaptx.tasks import PANX_LANGUAGES, UDPOS_LANGUAGES, XNLI_LANGUAGES


def test_every_xtreme_language_has_uriel_vectors_through_the_one_code_map():
    langs = sorted(set(XNLI_LANGUAGES) | set(PANX_LANGUAGES) | set(UDPOS_LANGUAGES))
    t = typ.typology(langs)
    assert t.missing == {} and set(t.distances) == set(langs)
    # macrolanguages go to the individual language the data is in
    assert (t.codes["ar"], t.codes["zh"], t.codes["fa"], t.codes["sw"], t.codes["ms"]) == ("arb", "cmn", "pes", "swh", "zsm")
    assert typ.uriel_code("deu") == "deu"  # three-letter codes as they are


def test_distances_order_languages_as_linguists_would():
    d = typ.typology(["en", "de", "fr", "zh", "sw", "tr"]).distances
    assert all(v == 0.0 for v in d["en"].values())
    assert all(0.0 <= v <= 1.0 for lang in d for v in d[lang].values())
    assert d["de"]["genetic"] < d["fr"]["genetic"] < d["zh"]["genetic"] == 1.0  # Germanic < Indo-European < other
    assert d["de"]["syntactic"] < d["tr"]["syntactic"]  # SVO with prepositions vs SOV with postpositions
    assert d["fr"]["geographic"] < d["de"]["geographic"] < d["sw"]["geographic"] < d["zh"]["geographic"]


def test_locations_are_recovered_exactly_from_the_geo_vectors():
    """URIEL's geo vector holds the great-circle distance (as a fraction of pi) to 299 fixed points:
    the location solved from it must reproduce every one of them, and land where the language is."""
    points = typ._geo_points()
    for code, (lat, lon) in {"eng": (53, -1), "cmn": (40, 116), "swh": (-8, 38)}.items():
        x = typ._location(typ._vector("geo", code))
        assert np.abs(np.arccos(np.clip(points @ x, -1, 1)) / np.pi - typ._vector("geo", code)).max() < 0.005  # points at whole degrees
        assert np.degrees(np.arcsin(x[2])) == pytest.approx(lat, abs=1.5)
        assert np.degrees(np.arctan2(x[1], x[0])) == pytest.approx(lon, abs=1.5)


def test_languages_without_entries_are_listed_with_the_reason():
    t = typ.typology(["en", "xx", "qqq", "de"])
    assert list(t.distances) == ["en", "de"]
    assert "no ISO 639-3 code" in t.missing["xx"] and "URIEL has no syntax_knn" in t.missing["qqq"]


def test_cc100_table_keeps_verified_rows_and_leaves_the_rest_missing():
    assert cc100.tokens_millions("en") == 55608 and cc100.tokens_millions("sw") == 275
    assert cc100.CC100["zh"][0] == "Chinese (Simplified)"
    assert cc100.log_tokens("de") == pytest.approx(np.log10(10297))
    assert cc100.tokens_millions("yo") is None  # not among XLM-R's languages
    assert cc100.tokens_millions("my") is None  # two Burmese rows in the transcription: not guessed
    assert "arXiv:1911.02116" in cc100.SOURCE and "Table 6" in cc100.SOURCE


def test_a_lang2vec_script_first_on_sys_path_does_not_shadow_its_data(tmp_path, monkeypatch):
    """lang2vec's wheel installs bin/lang2vec.py, which is first on sys.path when `adaptx` runs as a
    command, and it imports the long-gone pkg_resources: the data must be found without importing it."""
    (tmp_path / "lang2vec.py").write_text("raise ModuleNotFoundError(\"No module named 'pkg_resources'\")\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "lang2vec", raising=False)
    for cached in (typ._database, typ._index, typ._vector, typ._letter_codes, typ._geo_points):
        cached.cache_clear()
    assert typ.typology(["en", "de"]).missing == {}
