"""Each language's distance from English, from URIEL's feature vectors (lang2vec, offline).

lang2vec 1.1.2 ships URIEL's vectors in its wheel (lang2vec/data/*.npz) but not its precomputed
distance tables, and its module imports `pkg_resources`, which current setuptools no longer has.
So the vectors are read here straight from the installed package's data files (plain numpy
archives; the pickled `learned.npy` is never loaded) and distances are computed from them:

  syntactic, phonological, inventory  cosine distance of URIEL's kNN-imputed vectors (syntax_knn,
                                       phonology_knn, inventory_knn), as URIEL's own distances are
  genetic                              cosine distance of the family-membership vectors (fam: one
                                       bit per Glottolog clade the language belongs to), i.e.
                                       1 - shared clades / sqrt(clades(a) * clades(b)); 1 for an
                                       isolate (Basque: no clade)
  geographic                           great-circle distance / half the Earth's circumference, the
                                       language's location recovered from its `geo` vector (URIEL
                                       stores each language's great-circle distance to 299 fixed
                                       points, as a fraction of pi; cos(pi v) = x . p is linear in
                                       the location x, solved by least squares)

Codes: XTREME uses ISO 639-1; URIEL uses ISO 639-3. `URIEL_CODES` is the one map (macrolanguage
codes are replaced by the individual language XTREME's data is in: ar -> arb Standard Arabic,
zh -> cmn Mandarin, fa -> pes Iranian Persian, sw -> swh, ms -> zsm); other two-letter codes go
through lang2vec's own letter_codes.json; three-letter codes are used as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np

from ..errors import AdaptxError

LANG2VEC = "URIEL via lang2vec 1.1.2"
DISTANCES = {  # name: (feature set, how the distance is computed) -- printed beside every number
    "syntactic": ("syntax_knn", "cosine distance of URIEL syntax_knn vectors"),
    "phonological": ("phonology_knn", "cosine distance of URIEL phonology_knn vectors"),
    "inventory": ("inventory_knn", "cosine distance of URIEL inventory_knn vectors"),
    "genetic": ("fam", "cosine distance of URIEL family-membership (fam) vectors"),
    "geographic": ("geo", "great-circle distance / antipodal distance, locations from URIEL geo vectors"),
}
_FILES = {"syntax_knn": ("feature_predictions.npz", "S_"), "phonology_knn": ("feature_predictions.npz", "P_"),
          "inventory_knn": ("feature_predictions.npz", "INV_"), "fam": ("family_features.npz", "F_"),
          "geo": ("geocoord_features.npz", "GC_")}
URIEL_CODES = {
    "af": "afr", "ar": "arb", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "en": "eng", "es": "spa",
    "et": "est", "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun",
    "id": "ind", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal",
    "mr": "mar", "ms": "zsm", "my": "mya", "nl": "nld", "pt": "por", "ro": "ron", "ru": "rus", "sw": "swh",
    "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl", "tr": "tur", "ur": "urd", "vi": "vie", "yo": "yor",
    "zh": "cmn",
}
SOURCE_LANGUAGE = "en"


@dataclass(frozen=True)
class Typology:
    """Distances of some languages from English; languages URIEL lacks are listed, never dropped."""

    distances: dict[str, dict[str, float]]  # language -> distance name -> value in [0, 1]
    codes: dict[str, str]  # language -> the URIEL code used
    missing: dict[str, str]  # language -> why it has no distances


def uriel_code(lang: str) -> str | None:
    """The ISO 639-3 code URIEL knows a language by, or None."""
    if lang in URIEL_CODES:
        return URIEL_CODES[lang]
    if len(lang) == 3:
        return lang
    return _letter_codes().get(lang)


def typology(languages, source: str = SOURCE_LANGUAGE) -> Typology:
    """Every distance of every language from `source`; languages without URIEL vectors go to `missing`."""
    base = uriel_code(source)
    if base is None or _vector("fam", base) is None:
        raise AdaptxError(f"source language {source!r} has no URIEL entry; distances are measured from it")
    distances, codes, missing = {}, {}, {}
    for lang in dict.fromkeys(languages):
        code = uriel_code(lang)
        if code is None:
            missing[lang] = "no ISO 639-3 code known for it (adaptx.analysis.typology.URIEL_CODES)"
            continue
        absent = [name for name, (fs, _) in DISTANCES.items() if _vector(fs, code) is None]
        if absent:
            missing[lang] = f"URIEL has no {', '.join(DISTANCES[a][0] for a in absent)} vector for {code!r}"
            continue
        codes[lang] = code
        distances[lang] = {name: _distance(name, base, code) for name in DISTANCES}
    return Typology(distances, codes, missing)


def _distance(name: str, a: str, b: str) -> float:
    feature_set = DISTANCES[name][0]
    u, v = _vector(feature_set, a), _vector(feature_set, b)
    if feature_set == "geo":
        return float(np.arccos(np.clip(_location(u) @ _location(v), -1.0, 1.0)) / np.pi)
    norm = np.linalg.norm(u) * np.linalg.norm(v)
    return float(max(0.0, 1.0 - (u @ v) / norm)) if norm else 1.0  # max: rounding gives -1e-16 for a == b


def _location(geo: np.ndarray) -> np.ndarray:
    """Unit vector of a language's location from its distances to the fixed points (see the module doc)."""
    points = _geo_points()
    x, *_ = np.linalg.lstsq(points, np.cos(np.pi * geo), rcond=None)
    return x / np.linalg.norm(x)


@lru_cache(maxsize=None)
def _geo_points() -> np.ndarray:
    feats = _database("geocoord_features.npz")["feats"]
    lat_lon = np.radians([[float(x) for x in str(f)[3:].split("_")] for f in feats])
    lat, lon = lat_lon[:, 0], lat_lon[:, 1]
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


@lru_cache(maxsize=None)
def _vector(feature_set: str, code: str) -> np.ndarray | None:
    """A language's vector in one feature set; None when URIEL has none (absent, all unknown, or all zero)."""
    filename, prefix = _FILES[feature_set]
    db = _database(filename)
    index = _index(filename).get(code)
    if index is None:
        return None
    columns = np.char.startswith(db["feats"].astype(str), prefix)
    values = db["data"][index][columns].astype(np.float64)
    values = values[:, 0] if values.ndim == 2 else values
    if np.any(values < 0):  # -1 marks unknown values
        return None
    if not np.any(values) and feature_set != "fam":  # no direction; in fam, an isolate (Basque): distance 1
        return None
    return values


@lru_cache(maxsize=None)
def _index(filename: str) -> dict[str, int]:
    return {str(code): i for i, code in enumerate(_database(filename)["langs"])}


@lru_cache(maxsize=None)
def _database(filename: str):
    path = _data_dir() / filename
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise AdaptxError(f"{path}: lang2vec's URIEL data is unreadable ({exc}); reinstall lang2vec==1.1.2") from exc


@lru_cache(maxsize=None)
def _letter_codes() -> dict[str, str]:
    return json.loads((_data_dir() / "letter_codes.json").read_text(encoding="utf-8"))


def _data_dir() -> Path:
    """lang2vec's data folder, found through its installed files: importing `lang2vec` could pick up the
    `lang2vec.py` script its wheel puts in bin/ (first on sys.path when adaptx runs as a command)."""
    try:
        folder = Path(distribution("lang2vec").locate_file("lang2vec/data"))
    except PackageNotFoundError:
        folder = None
    if folder is None or not folder.is_dir():
        raise AdaptxError("the typology analysis needs lang2vec's URIEL data: pip install lang2vec==1.1.2")
    return folder
