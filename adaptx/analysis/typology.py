"""Each language's distance from English, as URIEL+ computes it (urielplus 1.3.2, offline).

URIEL+ (Khan et al. 2025, COLING, aclanthology.org/2025.coling-main.463) ships URIEL's feature files
in its wheel and computes distances itself: `URIELPlus().new_distance(kind, a, b)`, in its default
state (the original URIEL databases as shipped, no further databases integrated, nothing imputed,
sources combined by union, metric "angular"). adaptx calls exactly that and computes nothing of its
own, so every number can be reproduced with urielplus alone.

How URIEL+ computes one pair: it takes the features of the kind that *both* languages have a value
for (a feature unknown in either is left out, never filled in), combines each feature's sources
(union: the largest known value; geographic: the mean), and returns the angular distance
2 * arccos(cos(u, v)) / pi of the two vectors, rounded to 4 decimals: 0 = the same, 1 = orthogonal.
A pair with no such feature raises ValueError: that distance is reported missing, never guessed.

A read-only install: URIEL+'s constructor loads <package>/database/*.npz and, on first use, copies
them there from database/original_uriel/ (it writes into its own install), logging every step at
INFO through the root logger (and its import calls logging.basicConfig). adaptx copies the shipped
files once into <adaptx home>/urielplus/<version>/database/, points URIEL+ at that folder, and hides
URIEL+'s log records; nothing is written into the install.

Codes: XTREME uses ISO 639-1; URIEL uses ISO 639-3. `URIEL_CODES` is the one map (macrolanguage
codes are replaced by the individual language XTREME's data is in: ar -> arb Standard Arabic,
zh -> cmn Mandarin, fa -> pes Iranian Persian, sw -> swh, ms -> zsm); three-letter codes are used
as they are; another two-letter code is missing (no code known), never guessed.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ..errors import AdaptxError
from ..fileio import adaptx_home

URIELPLUS_VERSION = "1.3.2"  # the pinned version (pyproject.toml); its distances are what docs/analyze.md quotes
SOURCE = (f"URIEL+ (urielplus {URIELPLUS_VERSION}, Khan et al. 2025), new_distance in its default state: "
          "angular distance over the features both languages have")
LANG2VEC = SOURCE  # the name writeup.py imports (the distances used to come from lang2vec's vectors)
# name: (URIEL+ distance kind, how it is computed) -- printed beside every number
DISTANCES = {
    "syntactic": ("syntactic", "URIEL+ angular distance of the syntax features (S_*: WALS, SSWL, Ethnologue) "
                               "both languages have"),
    "phonological": ("phonological", "URIEL+ angular distance of the phonology features (P_*) both languages have"),
    "inventory": ("inventory", "URIEL+ angular distance of the phoneme-inventory features (INV_*: PHOIBLE) "
                               "both languages have"),
    "featural": ("featural", "URIEL+ angular distance of all typological features (syntax, phonology, inventory) "
                             "both languages have"),
    "genetic": ("genetic", "URIEL+ angular distance of the family-membership vectors (one bit per Glottolog "
                           "clade); 1 = no shared clade"),
    "geographic": ("geographic", "URIEL+ angular distance of the geography vectors (each language's distance to "
                                 "299 fixed points on the globe)"),
}
# the typological kinds draw on features.npz by feature-name prefix; the count of features both
# languages have is reported beside the distance (a distance over 12 features is a thin one)
_PREFIXES = {"syntactic": ("S_",), "phonological": ("P_",), "inventory": ("INV_",),
             "featural": ("S_", "P_", "INV_")}
_FILES = ("family_features.npz", "features.npz", "geocoord_features.npz", "script_features.npz")
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
    """Distances of some languages from English; languages URIEL+ lacks are listed, never dropped.

    A language URIEL+ knows is in `distances` with every distance name; one it cannot compute for
    that language (no feature of the kind shared with English) is NaN there, with the reason in
    `gaps`. `missing` holds the languages with no distance at all."""

    distances: dict[str, dict[str, float]]  # language -> distance name -> value in [0, 1] (NaN: see gaps)
    codes: dict[str, str]  # language -> the URIEL code used
    missing: dict[str, str]  # language -> why it has no distances
    gaps: dict[str, dict[str, str]] = field(default_factory=dict)  # language -> distance name -> why it is NaN
    shared: dict[str, dict[str, int]] = field(default_factory=dict)  # language -> typological distance -> features


def uriel_code(lang: str) -> str | None:
    """The ISO 639-3 code URIEL knows a language by, or None."""
    if lang in URIEL_CODES:
        return URIEL_CODES[lang]
    return lang if len(lang) == 3 else None


def known(typ: Typology, languages, name: str) -> list[str]:
    """The languages among `languages` that have distance `name` (not missing, not a gap)."""
    return [lang for lang in languages if lang in typ.distances and math.isfinite(typ.distances[lang][name])]


def typology(languages, source: str = SOURCE_LANGUAGE) -> Typology:
    """Every distance of every language from `source`; languages URIEL+ cannot place go to `missing`."""
    base = uriel_code(source)
    if base is None or base not in _language_codes():
        raise AdaptxError(f"source language {source!r} has no URIEL entry; distances are measured from it")
    distances, codes, missing, gaps, shared = {}, {}, {}, {}, {}
    for lang in dict.fromkeys(languages):
        code = uriel_code(lang)
        if code is None:
            missing[lang] = "no ISO 639-3 code known for it (adaptx.analysis.typology.URIEL_CODES)"
            continue
        if code not in _language_codes():
            missing[lang] = f"URIEL+ has no entry for {code!r}"
            continue
        values, why = {}, {}
        for name, (kind, _) in DISTANCES.items():
            values[name], problem = pair_distance(kind, base, code)
            if problem:
                why[name] = problem
        if len(why) == len(DISTANCES):
            missing[lang] = f"URIEL+ has no distance of any kind for {code!r} ({why['syntactic']})"
            continue
        codes[lang], distances[lang] = code, values
        shared[lang] = {name: _shared_features(name, base, code) for name in _PREFIXES}
        if why:
            gaps[lang] = why
    return Typology(distances, codes, missing, gaps, shared)


@lru_cache(maxsize=None)  # URIEL+ takes ~0.4 s for one genetic distance (3718 clades, in Python loops)
def pair_distance(kind: str, a: str, b: str) -> tuple[float, str | None]:
    """(URIEL+'s `new_distance(kind, a, b)`, None), or (NaN, why) where URIEL+ raises ValueError."""
    uriel = _urielplus()
    with _quiet_urielplus():
        try:
            return round(float(uriel.new_distance(kind, a, b)), 4), None  # float32 inside: its own 4 decimals
        except ValueError as exc:  # no feature of the kind that both languages have
            return math.nan, f"URIEL+ cannot compute it: {str(exc).splitlines()[0]}"


def _shared_features(name: str, a: str, b: str) -> int:
    """How many features of a typological distance both languages have a value for (URIEL+'s own
    selection: a feature with any known source value)."""
    feats, langs, data = _typological()
    columns = np.zeros(len(feats), dtype=bool)
    for prefix in _PREFIXES[name]:
        columns |= np.char.startswith(feats, prefix)
    has = [np.any(data[langs[code]][columns] != -1.0, axis=-1) for code in (a, b)]
    return int(np.sum(has[0] & has[1]))


@lru_cache(maxsize=None)
def _typological():
    u = _urielplus()
    return np.asarray(u.feats[1]).astype(str), {str(c): i for i, c in enumerate(u.langs[1])}, u.data[1]


@lru_cache(maxsize=None)
def _language_codes() -> frozenset:
    return frozenset(str(c) for c in _urielplus().langs[0])


_LOAD = threading.Lock()


@lru_cache(maxsize=None)
def _urielplus():
    """URIEL+ in its default state, loaded from adaptx's own copy of the files it ships (see the module doc)."""
    package = _package_dir()
    database = _copy_database(package)
    with _LOAD, _quiet_urielplus():
        module = _import_urielplus()
        # URIEL+ finds its database next to its module file (os.path.dirname(__file__)): for the
        # constructor only, that file "is" in the copy's parent folder; nothing else reads it there
        original = module.__file__
        module.__file__ = str(database.parent / "urielplus.py")
        try:
            return module.URIELPlus()
        except (OSError, ValueError) as exc:
            raise AdaptxError(f"URIEL+ could not load its database from {database} ({exc}); delete that folder "
                              f"to copy it again, or reinstall urielplus=={URIELPLUS_VERSION}") from exc
        finally:
            module.__file__ = original


def _package_dir() -> Path:
    """The installed urielplus package, checked to be the pinned version."""
    try:
        installed = version("urielplus")
    except PackageNotFoundError:
        installed = None
    if installed != URIELPLUS_VERSION:
        found = f"found {installed}" if installed else "it is not installed"
        raise AdaptxError(f"the typology analysis needs URIEL+ ({found}): pip install urielplus=={URIELPLUS_VERSION}")
    import importlib.util

    spec = importlib.util.find_spec("urielplus")
    if spec is None or not spec.submodule_search_locations:
        raise AdaptxError(f"urielplus is not importable: pip install urielplus=={URIELPLUS_VERSION}")
    return Path(list(spec.submodule_search_locations)[0])


def _copy_database(package: Path) -> Path:
    """<adaptx home>/urielplus/<version>/database with the files URIEL+ ships, copied once (atomically:
    several analyses may start at once)."""
    shipped = package / "database" / "original_uriel"
    target = adaptx_home() / "urielplus" / URIELPLUS_VERSION / "database"
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            src, dst = shipped / name, target / name
            if dst.is_file() and dst.stat().st_size == src.stat().st_size:
                continue
            partial = dst.with_name(f"{name}.{os.getpid()}.partial")
            shutil.copyfile(src, partial)
            os.replace(partial, dst)
    except OSError as exc:
        raise AdaptxError(f"cannot copy URIEL+'s database into {target}: {exc.strerror or exc} (set ADAPTX_HOME "
                          f"to a writable folder; reinstall urielplus=={URIELPLUS_VERSION} if {shipped} is "
                          "incomplete)") from exc
    return target


def _import_urielplus():
    """urielplus.urielplus, imported under _quiet_urielplus: its import calls logging.basicConfig at INFO,
    which would print every library's INFO records for the rest of the process."""
    from urielplus import urielplus

    return urielplus


class _FromUrielplus(logging.Filter):
    """Drops the records URIEL+ logs through the root logger (timings, "copying ..."), nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and "urielplus" in Path(record.pathname).parts)


@contextmanager
def _quiet_urielplus():
    """URIEL+ says nothing, and leaves the root logger as it found it: besides its own records, its
    basicConfig (at import) and any module-level logging.info while the root logger has no handler
    (which calls basicConfig) would add a handler to it."""
    root = logging.getLogger()
    handlers, level, quiet = list(root.handlers), root.level, _FromUrielplus()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
