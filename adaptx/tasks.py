"""Task registry: one declarative entry per task (name, role, kind, labels, languages, sources, metric).

Local paths are relative to a data folder in the layout of shared/data (see README:
"Local data layout"); `{lang}` is filled per language. Hub sources name the real
Hugging Face dataset ids. A raw label is either a label name or its index (int or digits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import AdaptxError


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative to the data folder; may contain {lang}
    format: str  # "tsv" (no header, columns by index), "tsv_header" (columns by name), "json_records"
    columns: tuple  # (text_a, text_b or None, label): indices for tsv, names otherwise


@dataclass(frozen=True)
class HubSplit:
    dataset: str
    config: str | None  # may contain {lang}
    split: str
    columns: tuple  # (text_a, text_b or None, label)


@dataclass(frozen=True)
class Task:
    """A task's data and scoring. Splits: train, dev (English, model selection), eval-dev and
    eval-test (per language). An eval split maps to one spec with `{lang}` in it, or to a dict
    language -> spec when only some languages have it (e.g. PAWS-X's labeled local test files)."""

    name: str
    role: str  # "intermediate" or "target"
    kind: str  # "classification" (single sentence or sentence pair)
    labels: tuple[str, ...]
    languages: tuple[str, ...]
    local: dict = field(default_factory=dict)  # split -> LocalFile | {lang: LocalFile}
    hub: dict = field(default_factory=dict)  # split -> HubSplit | {lang: HubSplit}
    metric: str = "accuracy"  # a name in adaptx.metrics.METRICS
    # eval-dev-{lang} files are row-by-row translations of the English dev file used for model
    # selection, so the selection rows must be held apart from every language's dev evaluation
    dev_row_aligned: bool = False
    description: str = ""

    def spec(self, source: str, split: str, lang: str = "en"):
        """The file or hub split for (source, split, language), or None where there is none."""
        entry = (self.local if source == "local" else self.hub).get(split)
        if isinstance(entry, dict):
            return entry.get(lang)
        return entry

    def eval_split_for(self, source: str, lang: str, requested: str | None) -> str | None:
        """'test' or 'dev' for this language: the requested one, or test where labeled, else dev."""
        for split in ([requested] if requested else ["test", "dev"]):
            if self.spec(source, f"eval-{split}", lang) is not None:
                return split
        return None


NLI_LABELS = ("entailment", "neutral", "contradiction")
XNLI_LANGUAGES = ("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGUAGES = ("en", "de", "es", "fr", "ja", "ko", "zh")

_MNLI_TRAIN_LOCAL = LocalFile("mnli/ppft_train_subset.json", "json_records", ("text_a", "text_b", "label"))
_PAWS_HF_COLUMNS = ("sentence1", "sentence2", "label")
_MNLI_TRAIN_HUB = HubSplit("nyu-mll/glue", "mnli", "train", ("premise", "hypothesis", "label"))

TASKS: dict[str, Task] = {
    "mnli": Task(
        name="mnli", role="intermediate", kind="classification", labels=NLI_LABELS, languages=("en",),
        local={"train": _MNLI_TRAIN_LOCAL,
               "dev": LocalFile("mnli/ppft_dev_subset.json", "json_records", ("text_a", "text_b", "label"))},
        hub={"train": _MNLI_TRAIN_HUB,
             "dev": HubSplit("nyu-mll/glue", "mnli", "validation_matched", ("premise", "hypothesis", "label"))},
        description="MultiNLI natural language inference",
    ),
    "qqp": Task(
        name="qqp", role="intermediate", kind="classification", labels=("not_duplicate", "duplicate"),
        languages=("en",),
        local={"train": LocalFile("qqp/ppft_train_subset.json", "json_records", ("text_a", "text_b", "label")),
               "dev": LocalFile("qqp/ppft_dev_subset.json", "json_records", ("text_a", "text_b", "label"))},
        hub={"train": HubSplit("nyu-mll/glue", "qqp", "train", ("question1", "question2", "label")),
             "dev": HubSplit("nyu-mll/glue", "qqp", "validation", ("question1", "question2", "label"))},
        description="Quora Question Pairs paraphrase detection",
    ),
    "sst2": Task(
        name="sst2", role="intermediate", kind="classification", labels=("negative", "positive"),
        languages=("en",),
        local={"train": LocalFile("sst2/alps_train.tsv", "tsv_header", ("sentence", None, "label")),
               "dev": LocalFile("sst2/alps_dev.tsv", "tsv_header", ("sentence", None, "label"))},
        hub={"train": HubSplit("nyu-mll/glue", "sst2", "train", ("sentence", None, "label")),
             "dev": HubSplit("nyu-mll/glue", "sst2", "validation", ("sentence", None, "label"))},
        description="Stanford Sentiment Treebank, binary",
    ),
    "xnli": Task(
        name="xnli", role="target", kind="classification", labels=NLI_LABELS, languages=XNLI_LANGUAGES,
        # XNLI has no training set of its own: it trains on English MNLI (as in XTREME).
        local={"train": _MNLI_TRAIN_LOCAL,
               "dev": LocalFile("xnli/dev-en.tsv", "tsv", (0, 1, 2)),
               "eval-dev": LocalFile("xnli/dev-{lang}.tsv", "tsv", (0, 1, 2)),
               # test labels: the German labeled XNLI test joined by row (shared/data README)
               "eval-test": LocalFile("xnli/test-{lang}.tsv", "tsv", (0, 1, 2))},
        hub={"train": _MNLI_TRAIN_HUB,
             "dev": HubSplit("facebook/xnli", "en", "validation", ("premise", "hypothesis", "label")),
             "eval-dev": HubSplit("facebook/xnli", "{lang}", "validation", ("premise", "hypothesis", "label")),
             "eval-test": HubSplit("facebook/xnli", "{lang}", "test", ("premise", "hypothesis", "label"))},
        dev_row_aligned=True,
        description="Cross-lingual NLI (15 languages); trained on English MNLI",
    ),
    "pawsx": Task(
        name="pawsx", role="target", kind="classification", labels=("different", "paraphrase"),
        languages=PAWSX_LANGUAGES,
        local={"train": LocalFile("paws_en/paws_wiki_final_test.tsv", "tsv", (1, 2, 3)),
               "dev": LocalFile("pawsx/dev-en.tsv", "tsv", (0, 1, 2)),
               "eval-dev": LocalFile("pawsx/dev-{lang}.tsv", "tsv", (0, 1, 2)),
               # labeled test exists locally for en, de and zh only; the others fall back to dev
               # rows held apart from model selection
               "eval-test": {"en": LocalFile("pawsx/test-en.tsv", "tsv", (0, 1, 2)),
                             "de": LocalFile("pawsx/labeled/test-de.hf.tsv", "tsv_header", _PAWS_HF_COLUMNS),
                             "zh": LocalFile("pawsx/labeled/test-zh.hf.tsv", "tsv_header", _PAWS_HF_COLUMNS)}},
        hub={"train": HubSplit("google-research-datasets/paws-x", "en", "train", ("sentence1", "sentence2", "label")),
             "dev": HubSplit("google-research-datasets/paws-x", "en", "validation", ("sentence1", "sentence2", "label")),
             "eval-dev": HubSplit("google-research-datasets/paws-x", "{lang}", "validation",
                                  ("sentence1", "sentence2", "label")),
             "eval-test": HubSplit("google-research-datasets/paws-x", "{lang}", "test",
                                   ("sentence1", "sentence2", "label"))},
        dev_row_aligned=True,
        description="Cross-lingual paraphrase adversaries (7 languages); trained on English PAWS-Wiki",
    ),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise AdaptxError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
