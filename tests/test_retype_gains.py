"""scripts/retype_gains.py: a kept gains.csv's typology readings, recomputed with URIEL+ distances and the
CC-100 GiB covariate (intervals over languages only)."""

import csv
import importlib.util
from pathlib import Path

from adaptx.analysis.typology import typology

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "retype_gains.py"
spec = importlib.util.spec_from_file_location("retype_gains", SCRIPT)
retype_gains = importlib.util.module_from_spec(spec)
spec.loader.exec_module(retype_gains)

LANGS = ["de", "fr", "ru", "hi", "zh", "ar"]
COLUMNS = ["target", "metric", "strategy", "intermediate", "language", "gain", "gap"]


def _write(path: Path, gain_of) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerow({"target": "xnli", "metric": "accuracy", "strategy": "stack",
                         "intermediate": "zoo:qqp-e5small-s0", "language": "en", "gain": 9.0, "gap": ""})
        for lang in LANGS:
            writer.writerow({"target": "xnli", "metric": "accuracy", "strategy": "stack",
                             "intermediate": "zoo:qqp-e5small-s0", "language": lang, "gain": gain_of(lang),
                             "gap": ""})
    return path


def test_a_gain_falling_with_distance_reads_rho_minus_one(tmp_path):
    syntactic = {lang: d["syntactic"] for lang, d in typology(LANGS).distances.items()}
    assert len(set(syntactic.values())) == len(LANGS)  # distinct distances: the ranks are defined
    records = retype_gains.retype(_write(tmp_path / "gains.csv", lambda lang: 10 - 10 * syntactic[lang]))
    row = next(r for r in records if r["distance"] == "syntactic" and r["quantity"] == "gain")
    assert row["n"] == len(LANGS) and row["row"] == "stack (qqp-e5small-s0)"  # English left out
    assert row["rho"].point == -1.0
    assert row["partial_gib"].point is not None and row["partial_tokens"].point is not None
    assert row["partial_gib"].point != row["partial_tokens"].point  # the two covariates rank zh, ar apart
    assert not any(r["quantity"] == "transfer gap" for r in records)  # empty cells are not read as values


def test_the_markdown_table_names_both_covariates_and_a_missing_file_is_refused(tmp_path, capsys):
    path = _write(tmp_path / "gains.csv", lambda lang: float(len(lang) + LANGS.index(lang)))
    assert retype_gains.main([str(path), "--distance", "geographic", "--markdown"]) == 0
    out = capsys.readouterr()
    header = out.out.splitlines()[0]
    assert "partial rho given log GiB" in header and "partial rho given log tokens" in header
    assert all("geographic" in line for line in out.out.splitlines()[2:] if line.startswith("| xnli"))
    assert "languages only" in out.err
    assert retype_gains.main([str(tmp_path / "absent.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
