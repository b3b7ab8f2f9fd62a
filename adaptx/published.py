"""Published test scores of XLM-R Large and X-STILTs per XTREME task, with their source: the one
place results.md (adaptx.report) and `adaptx analyze` take them from.

Each figure is the task's average over all of its test languages, English included, in the metric
XTREME publishes (QA: F1 alone, not XTREME's (F1 + EM)/2). adaptx compares with them only runs on
XLM-R Large, and says over which languages and rows its own numbers were computed.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILY = "xlm-roberta-large"  # adaptx.models' family name of the base these figures are for
SOURCE = ("Chung et al. 2021 (RemBERT, arXiv:2010.12821), Table 16: XLM-R Large, and X-STILTs (Phang et al. 2020, "
          "XLM-R Large after its best English intermediate task); test sets")
RETRIEVAL_SOURCE = "Hu et al. 2020 (XTREME, arXiv:2003.11080): XLM-R Large; no X-STILTs figure in the source above"


@dataclass(frozen=True)
class Reference:
    metric: str | None  # the adaptx metric the figures are in; None: not matched to one (not compared)
    xlmr: float
    xstilts: float | None


REFERENCES = {
    "xnli": Reference("accuracy", 79.2, 80.0),
    "pawsx": Reference("accuracy", 86.4, 87.9),
    "udpos": Reference("xtreme_pos_f1", 73.8, 74.9),
    "panx": Reference("seqeval_f1", 65.4, 64.0),
    "xquad": Reference("squad_f1", 76.6, 78.7),
    "mlqa": Reference("mlqa_f1", 71.6, 72.4),
    "tydiqa": Reference("squad_f1", 65.1, 76.0),
}
# Retrieval: results.md shows them; analyze does not compare them (Tatoeba's retrieval direction in
# XTREME's script is not checked here, and the source above has no X-STILTs figure for either)
RETRIEVAL = {"bucc": Reference(None, 66.0, None), "tatoeba": Reference(None, 57.3, None)}


def reference(task: str) -> Reference | None:
    return REFERENCES.get(task) or RETRIEVAL.get(task)
