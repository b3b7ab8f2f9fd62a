"""scripts/replication_claims.py: each claim's verdict from adaptx analyze's gains.csv and correlations.csv
(holds / does not hold / cannot tell by the documented rules; same-data rows never count)."""

import csv
import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "replication_claims.py"
spec = importlib.util.spec_from_file_location("replication_claims", SCRIPT)
claims = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = claims  # its dataclasses look their module up by name
spec.loader.exec_module(claims)

GAIN_COLUMNS = ["target", "metric", "strategy", "intermediate", "language", "seeds", "gain", "gain_lo", "gain_hi",
                "budget", "steps", "marks"]
CORR_COLUMNS = ["target", "metric", "row", "quantity", "distance", "rho", "rho_lo", "rho_hi", "partial_rho"]


def _csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _gain(target, adapter, gain, lo, hi, metric="accuracy", marks="", budget="auto", language="avg w/o en"):
    return {"target": target, "metric": metric, "strategy": "stack", "intermediate": f"zoo:{adapter}-e5small-s0",
            "language": language, "seeds": "0 1", "gain": gain, "gain_lo": lo, "gain_hi": hi, "budget": budget,
            "steps": 900, "marks": marks}


def _none(target, metric="accuracy"):
    return {"target": target, "metric": metric, "strategy": "none", "intermediate": "", "language": "avg w/o en",
            "seeds": "0 1", "gain": "", "gain_lo": "", "gain_hi": "", "budget": "auto", "steps": 1200, "marks": ""}


def test_xnli_no_benefit_claim_and_the_same_data_row_apart(tmp_path):
    study = tmp_path / "study"
    rows = [_none("xnli @auto"), _gain("xnli @auto", "qqp", -0.4, -1.5, 0.6), _gain("xnli @auto", "sst2", -1.0, -2.2, 0.1),
            _gain("xnli @auto", "mnli", 4.0, 2.0, 6.0, marks="§"),  # would say "helps": never counts
            _gain("xnli @150", "qqp", 5.0, 3.0, 7.0, budget=150),  # another budget: not this claim's
            _gain("xnli", "hellaswag", 5.0, 3.0, 7.0, budget="")]  # one budget, not known to be auto: left out
    _csv(study / "gains.csv", GAIN_COLUMNS, rows)
    claim = claims.xnli_claim(study)
    assert claim.verdict == claims.HOLDS and "apart: mnli § +4.0" in claim.measurement
    assert "qqp -0.4 [-1.5, +0.6]" in claim.measurement and "+5.0" not in claim.measurement
    rows.append(_gain("xnli @auto", "hellaswag", 0.8, -0.5, 2.1))  # spans zero and the margin
    _csv(study / "gains.csv", GAIN_COLUMNS, rows)
    assert claims.xnli_claim(study).verdict == claims.UNSURE
    rows.append(_gain("xnli @auto", "cosmosqa", 1.2, 0.2, 2.2))  # lies above zero: it helps
    _csv(study / "gains.csv", GAIN_COLUMNS, rows)
    claim = claims.xnli_claim(study)
    assert claim.verdict == claims.FAILS and "helps: cosmosqa" in claim.reason
    assert "intermediate adapter not shown converged" not in claim.reason
    rows.append(_gain("xnli @auto", "snli", -0.2, -1.0, 0.6, marks="‡"))  # the verdict stands; the caveat is named
    _csv(study / "gains.csv", GAIN_COLUMNS, rows)
    assert "‡ intermediate adapter not shown converged: snli" in claims.xnli_claim(study).reason


def test_retrieval_and_qa_claims(tmp_path):
    tatoeba, bucc, qa = tmp_path / "tatoeba", tmp_path / "bucc", tmp_path / "qa"
    _csv(tatoeba / "gains.csv", GAIN_COLUMNS,
         [_gain("tatoeba", a, g, g - 0.5, g + 0.5, metric=m, budget="")
          for a, g in (("qqp", 2.0), ("sst2", 1.0)) for m in ("tatoeba_en_to_xx", "tatoeba_xx_to_en")])
    _csv(bucc / "gains.csv", GAIN_COLUMNS, [_gain("bucc", "qqp", 3.0, 1.0, 5.0, metric="bucc_f1", budget="")])
    assert claims.retrieval_claim([tatoeba, bucc]).verdict == claims.HOLDS
    _csv(bucc / "gains.csv", GAIN_COLUMNS, [_gain("bucc", "qqp", -3.0, -5.0, -1.0, metric="bucc_f1", budget="")])
    claim = claims.retrieval_claim([tatoeba, bucc])
    assert claim.verdict == claims.FAILS and "4 of 5" in claim.reason
    assert claims.qa_claim(qa).verdict == claims.NOT_YET
    _csv(qa / "gains.csv", GAIN_COLUMNS, [_gain("xquad @auto", "mnli", 2.0, 0.5, 3.5, metric="squad_f1"),
                                          _gain("xquad @auto", "hellaswag", -1.0, -2.0, 0.1, metric="squad_f1")])
    assert claims.qa_claim(qa).verdict == claims.HOLDS
    _csv(qa / "gains.csv", GAIN_COLUMNS, [_gain("xquad @auto", "mnli", 0.5, -0.5, 1.5, metric="squad_f1")])
    assert claims.qa_claim(qa).verdict == claims.UNSURE


def test_a_retrieval_run_over_one_language_counts(tmp_path):
    # BUCC here is zh-en only: analyze writes no "avg w/o en" row for one language, and the claim must
    # still read it (it was left out silently, so Tatoeba alone gave the verdict)
    tatoeba, bucc = tmp_path / "tatoeba", tmp_path / "bucc"
    _csv(tatoeba / "gains.csv", GAIN_COLUMNS, [_gain("tatoeba", "qqp", 2.0, 1.0, 3.0, metric="tatoeba_en_to_xx",
                                                     budget="")])
    _csv(bucc / "gains.csv", GAIN_COLUMNS, [_gain("bucc", "qqp", -3.0, -5.0, -1.0, metric="bucc_f1", budget="",
                                                  language="zh")])
    claim = claims.retrieval_claim([tatoeba, bucc])
    assert claim.verdict == claims.FAILS and "bucc_f1: qqp -3.0 [-5.0, -1.0]" in claim.measurement
    # several languages and no average: nothing is guessed
    _csv(bucc / "gains.csv", GAIN_COLUMNS, [_gain("bucc", "qqp", -3.0, -5.0, -1.0, metric="bucc_f1", budget="",
                                                  language=lang) for lang in ("zh", "de")])
    assert claims.retrieval_claim([tatoeba, bucc]).verdict == claims.HOLDS


def test_best_tasks_and_typology_claims(tmp_path):
    study = tmp_path / "study"
    _csv(study / "gains.csv", GAIN_COLUMNS,
         [_gain("pawsx @auto", "hellaswag", 6.0, 4.0, 8.0), _gain("pawsx @auto", "sst2", 0.0, -1.0, 1.0),
          _gain("xnli @auto", "mnli", 9.0, 8.0, 10.0, marks="§"),  # same data: XNLI has no named row left
          _gain("xnli @auto", "qqp", 1.0, 0.0, 2.0)])
    claim = claims.best_tasks_claim(study)
    assert claim.verdict == claims.HOLDS and claim.measurement.startswith("pawsx: holds")
    assert "xnli" not in claim.measurement
    _csv(study / "gains.csv", GAIN_COLUMNS,
         [_gain("pawsx @auto", "hellaswag", 1.0, 0.0, 2.0), _gain("pawsx @auto", "qqp", 6.0, 4.0, 8.0)])
    assert claims.best_tasks_claim(study).verdict == claims.FAILS
    assert claims.typology_claim(study).verdict == claims.NOT_YET
    corr = [{"target": "xnli @auto", "metric": "accuracy", "row": "stack (zoo:qqp-e5small-s0)", "quantity": "gain",
             "distance": "syntactic", "rho": -0.7, "rho_lo": -0.9, "rho_hi": -0.2, "partial_rho": -0.5},
            {"target": "pawsx @auto", "metric": "accuracy", "row": "stack (zoo:qqp-e5small-s0)", "quantity": "gain",
             "distance": "syntactic", "rho": -0.3, "rho_lo": -0.9, "rho_hi": 0.6, "partial_rho": ""}]
    _csv(study / "correlations.csv", CORR_COLUMNS, corr)
    claim = claims.typology_claim(study)
    assert claim.verdict == claims.UNSURE and "1 of 2" in claim.reason and "partial (log GiB) -0.50" in claim.measurement


def test_multitask_claim_against_the_best_single_task(tmp_path):
    tatoeba = tmp_path / "tatoeba"
    assert claims.multitask_claim([tatoeba]).verdict == claims.NOT_YET
    rows = [_gain("tatoeba", "qqp", 1.0, 0.5, 1.5, metric="tatoeba_en_to_xx", budget=""),
            _gain("tatoeba", "sst2", 2.0, 1.5, 2.5, metric="tatoeba_en_to_xx", budget=""),
            _gain("tatoeba", "multitask", 3.5, 3.0, 4.0, metric="tatoeba_en_to_xx", budget="")]
    _csv(tatoeba / "gains.csv", GAIN_COLUMNS, rows)
    claim = claims.multitask_claim([tatoeba])
    assert claim.verdict == claims.HOLDS and "against the best single, sst2 +2.0" in claim.measurement
    rows[2] = _gain("tatoeba", "multitask", 2.2, 1.7, 2.7, metric="tatoeba_en_to_xx", budget="")
    _csv(tatoeba / "gains.csv", GAIN_COLUMNS, rows)
    assert claims.multitask_claim([tatoeba]).verdict == claims.UNSURE
    rows[2] = _gain("tatoeba", "multitask", -1.0, -1.5, -0.5, metric="tatoeba_en_to_xx", budget="")
    _csv(tatoeba / "gains.csv", GAIN_COLUMNS, rows)
    assert claims.multitask_claim([tatoeba]).verdict == claims.FAILS


def test_the_table_and_a_folder_without_gains_is_refused(tmp_path, capsys):
    study = tmp_path / "study"
    _csv(study / "gains.csv", GAIN_COLUMNS, [_none("xnli @auto")])
    assert claims.main(["--study", str(study)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + 6 and all(line.startswith("|") and line.endswith("|") for line in lines)
    assert all(line.count(" | ") == 3 for line in lines[2:])  # four cells: no stray pipe inside one
    assert claims.main(["--qa", str(tmp_path / "nothing")]) == 2
    assert "adaptx analyze" in capsys.readouterr().err
