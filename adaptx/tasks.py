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
    # a registered data format (adaptx/formats/): classification "tsv" (no header, columns by index),
    # "tsv_header" (columns by name), "json_records", "jsonl"; tagging "conllu", "udpos_tsv", "panx_tsv",
    # "ccg"; qa "squad_json"; multiple choice "commonsenseqa_jsonl", "cosmosqa_csv", "hellaswag_txt";
    # retrieval "tatoeba", "bucc"
    format: str
    # classification: (text_a, text_b or None, label): indices for tsv, names otherwise (a tuple of
    # names: alternatives, the first present is read)
    columns: tuple = ()
    extra: tuple = ()  # further files read with `path` (Tatoeba's English side; BUCC's English side and gold)
    # 'train' or 'dev': that part of a seeded split of the file by groups (Task.params['holdout']), for
    # tasks whose only labeled local file is a dev set (SQuAD 2.0, CommonsenseQA, Cosmos QA, HellaSwag)
    part: str | None = None


@dataclass(frozen=True)
class HubSplit:
    dataset: str
    config: str | None  # may contain {lang}
    split: str
    columns: tuple = ()  # classification: (text_a, text_b or None, label); other kinds read the hub schema
    # the registered data format whose hub reader reads the rows (adaptx/formats/): "columns" reads `columns`;
    # the others name the file format of the same data ("squad_json": SQuAD's schema, ...)
    format: str = "columns"


@dataclass(frozen=True)
class Task:
    """A task's data and scoring. Splits: train, dev (English, model selection), eval-dev and
    eval-test (per language). An eval split maps to one spec with `{lang}` in it, or to a dict
    language -> spec when only some languages have it (e.g. PAWS-X's labeled local test files).
    A tuple of specs is their concatenation (ANLI's three rounds)."""

    name: str
    role: str  # "intermediate" or "target"
    kind: str  # classification | tagging | qa | multiple_choice | retrieval (adaptx/kinds/)
    labels: tuple[str, ...]  # () with params['label_file']: read from that data file (CCG's categories)
    languages: tuple[str, ...]
    local: dict = field(default_factory=dict)  # split -> LocalFile | {lang: LocalFile}
    hub: dict = field(default_factory=dict)  # split -> HubSplit | {lang: HubSplit}
    metric: str = "accuracy"  # the headline metric, a name in adaptx.metrics.METRICS (language-aware: mlqa_f1)
    extra_metrics: tuple = ()  # also reported (e.g. QA exact match, the other Tatoeba direction)
    summary_metric: str | None = None  # the one the XTREME summary uses (null: the headline)
    category: str = "classification"  # XTREME summary group: classification | structured | qa | retrieval
    params: dict = field(default_factory=dict)  # kind parameters (QA no_answer, retrieval layer, ...)
    # eval-dev-{lang} files are row-by-row translations of the English dev file used for model
    # selection, so the selection rows must be held apart from every language's dev evaluation
    dev_row_aligned: bool = False
    # every language's eval files hold the same items in the same rows (row i = item i translated),
    # so a row id names one item across languages and adaptx.stats resamples items jointly
    # (MLQA's translations share question ids, not rows: each language has a different subset)
    row_aligned: bool = False
    # the example field that names one item across languages where rows do not (MLQA: the question id,
    # shared by a question's translations): adaptx.stats draws those ids once for every language that
    # has them. Scoring only, never part of a stage recipe
    item_id_field: str | None = None
    train_note: str = ""  # what the local training data is, when it is not the task's own
    # the licenses of the data behind a trained adapter's weights, {"train": ..., "dev": ...} (the training
    # data and the English dev rows that select the checkpoint): a zoo card says them. Informational
    license: dict = field(default_factory=dict)
    description: str = ""

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self.metric, *self.extra_metrics)

    def item_ids(self, examples) -> list[str] | None:
        """Each example's item id across languages (its item_id_field: MLQA's question id), for the
        prediction files; None for a task whose row ids name its items (or that shares none)."""
        return [str(getattr(e, self.item_id_field)) for e in examples] if self.item_id_field else None

    def items_record(self, examples, scored: list[int]) -> dict:
        """{"items": ids} of the scored examples for an evaluation file, where the task names its items."""
        items = self.item_ids([examples[i] for i in scored])
        return {"items": items} if items else {}

    def source(self, configured: str) -> str:
        """The source this task reads under data.source `configured`: a task with local files and no hub
        source at all (CCG: CCGbank is LDC-licensed) always reads the local folder (data.dir / --data-dir)."""
        return "local" if self.local and not self.hub else configured

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


def _license(train: str, dev: str | None = None) -> dict:
    """Task.license: the training data's license and the dev data's (the same unless given)."""
    return {"train": train, "dev": dev or train}


MNLI_LICENSE = "MultiNLI: OANC license (most genres) and permissive licenses incl. CC BY-SA 3.0 (fiction)"
PAWS_WIKI_LICENSE = "PAWS-Wiki: free for any purpose (google-research-datasets/paws LICENSE)"

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
        license=_license(MNLI_LICENSE),
        description="MultiNLI natural language inference",
    ),
    "qqp": Task(
        name="qqp", role="intermediate", kind="classification", labels=("not_duplicate", "duplicate"),
        languages=("en",),
        local={"train": LocalFile("qqp/ppft_train_subset.json", "json_records", ("text_a", "text_b", "label")),
               "dev": LocalFile("qqp/ppft_dev_subset.json", "json_records", ("text_a", "text_b", "label"))},
        hub={"train": HubSplit("nyu-mll/glue", "qqp", "train", ("question1", "question2", "label")),
             "dev": HubSplit("nyu-mll/glue", "qqp", "validation", ("question1", "question2", "label"))},
        license=_license("Quora Question Pairs: Quora's Terms of Service (non-commercial use)"),
        description="Quora Question Pairs paraphrase detection",
    ),
    "sst2": Task(
        name="sst2", role="intermediate", kind="classification", labels=("negative", "positive"),
        languages=("en",),
        local={"train": LocalFile("sst2/alps_train.tsv", "tsv_header", ("sentence", None, "label")),
               "dev": LocalFile("sst2/alps_dev.tsv", "tsv_header", ("sentence", None, "label"))},
        hub={"train": HubSplit("nyu-mll/glue", "sst2", "train", ("sentence", None, "label")),
             "dev": HubSplit("nyu-mll/glue", "sst2", "validation", ("sentence", None, "label"))},
        license=_license("SST-2 (Stanford Sentiment Treebank): no license stated upstream"),
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
        dev_row_aligned=True, row_aligned=True,
        license=_license(MNLI_LICENSE, "XNLI: CC BY-NC 4.0"),
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
        # rows are translations of each other, but a few labels differ between languages
        dev_row_aligned=True, row_aligned=True,
        license=_license(PAWS_WIKI_LICENSE, "PAWS-X: free for any purpose (google-research-datasets/paws LICENSE)"),
        description="Cross-lingual paraphrase adversaries (7 languages); trained on English PAWS-Wiki",
    ),
}


# -- XTREME structured prediction, QA and retrieval ----------------------------------------------

UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X")
UDPOS_LANGUAGES = ("af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id",
                   "it", "ja", "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo", "zh")
UDPOS_HUB_NAMES = {"af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek",
                   "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
                   "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
                   "id": "Indonesian", "it": "Italian", "ja": "Japanese", "kk": "Kazakh", "ko": "Korean",
                   "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian", "ta": "Tamil",
                   "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
                   "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese"}
NER_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
PANX_LANGUAGES = ("af", "ar", "bg", "bn", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu",
                  "id", "it", "ja", "jv", "ka", "kk", "ko", "ml", "mr", "ms", "my", "nl", "pt", "ru", "sw", "ta",
                  "te", "th", "tl", "tr", "ur", "vi", "yo", "zh")
XQUAD_LANGUAGES = ("en", "ar", "de", "el", "es", "hi", "ru", "th", "tr", "vi", "zh")
MLQA_LANGUAGES = ("en", "ar", "de", "es", "hi", "vi", "zh")
TYDIQA_LANGUAGES = ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te")
TYDIQA_HUB_NAMES = {"en": "english", "ar": "arabic", "bn": "bengali", "fi": "finnish", "id": "indonesian",
                    "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu"}
TATOEBA_ISO3 = {"af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa",
                "et": "est", "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin",
                "hu": "hun", "id": "ind", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz",
                "ko": "kor", "ml": "mal", "mr": "mar", "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh",
                "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl", "tr": "tur", "ur": "urd", "vi": "vie",
                "zh": "cmn"}
BUCC_LANGUAGES = ("de", "fr", "ru", "zh")

_QA_TRAIN_LOCAL = LocalFile("tydiqa/tydiqa.goldp.en.train.json", "squad_json")
_QA_TRAIN_HUB = HubSplit("rajpurkar/squad", None, "train", format="squad_json")
_QA_DEV_LOCAL = LocalFile("mlqa/dev/dev-context-en-question-en.json", "squad_json")
_QA_NOTE = ("locally, QA trains on TyDiQA-GoldP's English train file (no SQuAD v1.1 training set is available "
            "offline); the hub source trains on SQuAD v1.1 as XTREME does")
_QA_PARAMS = {"no_answer": False}

TASKS.update({
    "udpos": Task(
        name="udpos", role="target", kind="tagging", labels=UPOS, languages=UDPOS_LANGUAGES,
        local={"train": LocalFile("udpos/xtreme_format/train-en.tsv", "udpos_tsv"),
               "dev": LocalFile("udpos/xtreme_format/dev-en.tsv", "udpos_tsv"),
               "eval-dev": LocalFile("udpos/xtreme_format/dev-{lang}.tsv", "udpos_tsv"),
               "eval-test": {**{lang: LocalFile(f"udpos/xtreme_format/test-{lang}.tsv", "udpos_tsv")
                                for lang in UDPOS_LANGUAGES if lang != "de"},
                             # XTREME's German test is missing locally; the UD German-GSD test stands in
                             "de": LocalFile("udpos/UD_German-GSD/de_gsd-ud-test.conllu", "conllu")}},
        hub={"train": HubSplit("google/xtreme", "udpos.English", "train", format="udpos_tsv"),
             "dev": HubSplit("google/xtreme", "udpos.English", "validation", format="udpos_tsv"),
             "eval-dev": {lang: HubSplit("google/xtreme", f"udpos.{name}", "validation", format="udpos_tsv")
                          for lang, name in UDPOS_HUB_NAMES.items()},
             "eval-test": {lang: HubSplit("google/xtreme", f"udpos.{name}", "test", format="udpos_tsv")
                           for lang, name in UDPOS_HUB_NAMES.items()}},
        metric="token_accuracy", extra_metrics=("xtreme_pos_f1",), summary_metric="xtreme_pos_f1",
        category="structured", description="Universal Dependencies part-of-speech tagging (XTREME's 33 languages)",
    ),
    "panx": Task(
        name="panx", role="target", kind="tagging", labels=NER_LABELS, languages=PANX_LANGUAGES,
        local={"train": LocalFile("panx/train-en.tsv", "panx_tsv"),
               "dev": LocalFile("panx/dev-en.tsv", "panx_tsv"),
               # XTREME removed PAN-X's test labels: zero-shot scores come from dev
               "eval-dev": LocalFile("panx/dev-{lang}.tsv", "panx_tsv")},
        hub={"train": HubSplit("google/xtreme", "PAN-X.en", "train", format="panx_tsv"),
             "dev": HubSplit("google/xtreme", "PAN-X.en", "validation", format="panx_tsv"),
             "eval-dev": HubSplit("google/xtreme", "PAN-X.{lang}", "validation", format="panx_tsv"),
             "eval-test": HubSplit("google/xtreme", "PAN-X.{lang}", "test", format="panx_tsv")},
        metric="seqeval_f1", category="structured",
        description="WikiANN / PAN-X named entities (PER, ORG, LOC; XTREME's 40 languages)",
    ),
    "xquad": Task(
        name="xquad", role="target", kind="qa", labels=(), languages=XQUAD_LANGUAGES,
        local={"train": _QA_TRAIN_LOCAL, "dev": _QA_DEV_LOCAL,
               "eval-test": LocalFile("xquad/xquad.{lang}.json", "squad_json")},
        hub={"train": _QA_TRAIN_HUB, "dev": HubSplit("rajpurkar/squad", None, "validation", format="squad_json"),
             "eval-test": HubSplit("google/xtreme", "XQuAD.{lang}", "validation", format="squad_json")},
        metric="squad_f1", extra_metrics=("squad_em",), category="qa", params=_QA_PARAMS, train_note=_QA_NOTE,
        row_aligned=True,  # the same 1190 questions, in the same order, in every language
        description="XQuAD: SQuAD v1.1 dev translated into 10 languages (trained on English SQuAD v1.1)",
    ),
    "mlqa": Task(
        name="mlqa", role="target", kind="qa", labels=(), languages=MLQA_LANGUAGES,
        local={"train": _QA_TRAIN_LOCAL, "dev": _QA_DEV_LOCAL,
               "eval-dev": LocalFile("mlqa/dev/dev-context-{lang}-question-{lang}.json", "squad_json")},
        hub={"train": _QA_TRAIN_HUB, "dev": HubSplit("google/xtreme", "MLQA.en.en", "validation", format="squad_json"),
             "eval-dev": HubSplit("google/xtreme", "MLQA.{lang}.{lang}", "validation", format="squad_json"),
             "eval-test": HubSplit("google/xtreme", "MLQA.{lang}.{lang}", "test", format="squad_json")},
        metric="mlqa_f1", extra_metrics=("mlqa_em",), category="qa", params=_QA_PARAMS, train_note=_QA_NOTE,
        # MLQA questions are translations of each other, identified by id: selection ids are held apart,
        # and the bootstrap resamples question ids jointly across the languages that have them
        dev_row_aligned=True, item_id_field="id",
        description="MLQA: same-language context and question, 7 languages (trained on English SQuAD v1.1)",
    ),
    "tydiqa": Task(
        name="tydiqa", role="target", kind="qa", labels=(), languages=TYDIQA_LANGUAGES,
        # locally the GoldP dev files have no answers (XTREME removed them): TyDiQA runs from the hub
        local={"train": _QA_TRAIN_LOCAL, "dev": _QA_DEV_LOCAL},
        hub={"train": _QA_TRAIN_HUB, "dev": HubSplit("rajpurkar/squad", None, "validation", format="squad_json"),
             "eval-dev": {lang: HubSplit("google/xtreme", "tydiqa", "validation", format="squad_json")
                          for lang in TYDIQA_LANGUAGES}},
        metric="squad_f1", extra_metrics=("squad_em",), category="qa",
        params={**_QA_PARAMS, "hub_language_filter": TYDIQA_HUB_NAMES}, train_note=_QA_NOTE,
        description="TyDiQA-GoldP, 9 typologically diverse languages (trained on English SQuAD v1.1)",
    ),
    "tatoeba": Task(
        name="tatoeba", role="target", kind="retrieval", labels=(), languages=tuple(TATOEBA_ISO3),
        local={"eval-test": {lang: LocalFile(f"tatoeba/tatoeba.{iso}-eng.{iso}", "tatoeba",
                                             extra=(f"tatoeba/tatoeba.{iso}-eng.eng",))
                             for lang, iso in TATOEBA_ISO3.items()}},
        hub={"eval-test": {lang: HubSplit("google/xtreme", f"tatoeba.{iso}", "validation", format="tatoeba")
                           for lang, iso in TATOEBA_ISO3.items()}},
        metric="tatoeba_en_to_xx", extra_metrics=("tatoeba_xx_to_en",), category="retrieval",
        params={"layer": "middle", "pooling": "mean"},
        description="Tatoeba sentence retrieval, 36 languages <-> English (no training data)",
    ),
    "bucc": Task(
        name="bucc", role="target", kind="retrieval", labels=(), languages=BUCC_LANGUAGES,
        # locally only zh-en has its sentences (de, fr, ru: gold pairs only)
        local={"eval-dev": {"zh": LocalFile("bucc2018/zh-en.dev.zh", "bucc",
                                            extra=("bucc2018/zh-en.dev.en", "bucc2018/zh-en.dev.gold"))}},
        hub={"eval-dev": HubSplit("google/xtreme", "bucc18.{lang}", "validation", format="bucc"),
             "eval-test": HubSplit("google/xtreme", "bucc18.{lang}", "test", format="bucc")},
        metric="bucc_f1", category="retrieval", params={"layer": "middle", "pooling": "mean", "k": 4, "mining": True},
        description="BUCC 2018 parallel sentence mining, 4 languages <-> English (no training data)",
    ),
})


# -- the paper's English intermediate tasks beyond MNLI, QQP and SST-2 ------------------------------

_ANLI_PARAMS = {"label_aliases": {"e": "entailment", "n": "neutral", "c": "contradiction"}}
_NLI_COLUMNS_HUB = ("premise", "hypothesis", "label")


def _anli_local(split: str) -> tuple:
    """ANLI v1.0 as released (anli_v1.0/R{1,2,3}/{train,dev,test}.jsonl: uid, context, hypothesis,
    label e/n/c), rounds 1-3 in order; 'premise' is read where a file names the premise so."""
    return tuple(LocalFile(f"anli/R{r}/{split}.jsonl", "jsonl", (("context", "premise"), "hypothesis", "label"))
                 for r in (1, 2, 3))


def _anli_hub(split: str) -> tuple:
    return tuple(HubSplit("facebook/anli", None, f"{split}_r{r}", _NLI_COLUMNS_HUB) for r in (1, 2, 3))


_SNLI_LOCAL = {"train": LocalFile("snli/ppft_train_subset.json", "json_records", ("text_a", "text_b", "label")),
               "dev": LocalFile("snli/ppft_dev_subset.json", "json_records", ("text_a", "text_b", "label"))}
_SNLI_HUB = {"train": HubSplit("stanfordnlp/snli", None, "train", _NLI_COLUMNS_HUB),
             "dev": HubSplit("stanfordnlp/snli", None, "validation", _NLI_COLUMNS_HUB)}


def _holdout_files(path: str, fmt: str) -> dict:
    return {"train": LocalFile(path, fmt, part="train"), "dev": LocalFile(path, fmt, part="dev")}


def _holdout_note(what: str, group: str, hub: str) -> str:
    return (f"locally, {what} is the only labeled file: a seeded split by {group} (seed 0) trains on 70% and "
            f"selects on the other 30%, so no {group} is in both; the hub source trains on {hub}")


_HOLDOUT = {"dev_fraction": 0.3, "seed": 0}

TASKS.update({
    "snli": Task(
        name="snli", role="intermediate", kind="classification", labels=NLI_LABELS, languages=("en",),
        local=_SNLI_LOCAL, hub=_SNLI_HUB,
        license=_license("SNLI: CC BY-SA 4.0"),
        description="Stanford NLI (hub pairs without a gold label, -1, are left out and counted)",
    ),
    "anli": Task(
        name="anli", role="intermediate", kind="classification", labels=NLI_LABELS, languages=("en",),
        local={"train": _anli_local("train"), "dev": _anli_local("dev")},
        hub={"train": _anli_hub("train"), "dev": _anli_hub("dev")}, params=_ANLI_PARAMS,
        license=_license("ANLI: CC BY-NC 4.0"),
        description="Adversarial NLI, rounds 1-3 together",
    ),
    "anli+mnli+snli": Task(
        name="anli+mnli+snli", role="intermediate", kind="classification", labels=NLI_LABELS, languages=("en",),
        # the paper's ANLI setting: ANLI rounds 1-3 trained together with MNLI and SNLI; selected on ANLI dev
        local={"train": (*_anli_local("train"), _MNLI_TRAIN_LOCAL, _SNLI_LOCAL["train"]), "dev": _anli_local("dev")},
        hub={"train": (*_anli_hub("train"), _MNLI_TRAIN_HUB, _SNLI_HUB["train"]), "dev": _anli_hub("dev")},
        params=_ANLI_PARAMS, description="ANLI rounds 1-3 + MNLI + SNLI training data (the paper's ANLI task)",
        license=_license("ANLI: CC BY-NC 4.0; MultiNLI: OANC and permissive licenses; SNLI: CC BY-SA 4.0",
                         "ANLI: CC BY-NC 4.0"),
    ),
    "ccg": Task(
        name="ccg", role="intermediate", kind="tagging", labels=(), languages=("en",),
        # CCGbank is LDC-licensed: local files only, in C&C's or CCGbank's format (adaptx.intermediate_readers)
        local={"train": LocalFile("ccg/wsj02-21.stagged", "ccg", extra=("ccg/categories",)),
               "dev": LocalFile("ccg/wsj00.stagged", "ccg", extra=("ccg/categories",))},
        metric="token_accuracy", category="structured", params={"label_file": "ccg/categories"},
        license=_license("CCGbank: LDC User Agreement (LDC2005T13), not redistributable"),
        description="CCG supertagging (CCGbank sections 02-21 train, 00 dev; the tag set from ccg/categories)",
    ),
    "commonsenseqa": Task(
        name="commonsenseqa", role="intermediate", kind="multiple_choice", labels=("A", "B", "C", "D", "E"),
        languages=("en",), local=_holdout_files("commonsenseqa/dev_rand_split.jsonl", "commonsenseqa_jsonl"),
        hub={"train": HubSplit("tau/commonsense_qa", None, "train", format="commonsenseqa_jsonl"),
             "dev": HubSplit("tau/commonsense_qa", None, "validation", format="commonsenseqa_jsonl")},
        params={"num_choices": 5, "holdout": {**_HOLDOUT, "group": "id"}},
        train_note=_holdout_note("CommonsenseQA's dev set (1221 questions)", "id", "its train set"),
        license=_license("CommonsenseQA: MIT"),
        description="CommonsenseQA, 5-way multiple choice",
    ),
    "cosmosqa": Task(
        name="cosmosqa", role="intermediate", kind="multiple_choice", labels=("0", "1", "2", "3"), languages=("en",),
        local=_holdout_files("cosmosqa/valid.csv", "cosmosqa_csv"),
        hub={"train": HubSplit("allenai/cosmos_qa", None, "train", format="cosmosqa_csv"),
             "dev": HubSplit("allenai/cosmos_qa", None, "validation", format="cosmosqa_csv")},
        params={"num_choices": 4, "holdout": {**_HOLDOUT, "group": "context"}},
        train_note=_holdout_note("Cosmos QA's dev set (2985 questions)", "context", "its train set"),
        license=_license("Cosmos QA: CC BY 4.0"),
        description="Cosmos QA, commonsense reading comprehension, 4-way multiple choice",
    ),
    "hellaswag": Task(
        name="hellaswag", role="intermediate", kind="multiple_choice", labels=("0", "1", "2", "3"), languages=("en",),
        local=_holdout_files("hellaswag/hellaswag_val_full.txt.bz2", "hellaswag_txt"),
        hub={"train": HubSplit("Rowan/hellaswag", None, "train", format="hellaswag_txt"),
             "dev": HubSplit("Rowan/hellaswag", None, "validation", format="hellaswag_txt")},
        params={"num_choices": 4, "holdout": {**_HOLDOUT, "group": "context"}},
        train_note=_holdout_note("HellaSwag's validation set (10042 items)", "context", "its train set"),
        license=_license("HellaSwag: MIT"),
        description="HellaSwag sentence completion, 4-way multiple choice",
    ),
    "paws": Task(
        name="paws", role="intermediate", kind="classification", labels=("different", "paraphrase"),
        languages=("en",),
        # PAWS-X trains on the same English file, so a PAWS adapter stacked under PAWS-X repeats its data
        local={part: LocalFile("paws_en/paws_wiki_final_test.tsv", "tsv", (1, 2, 3), part=part)
               for part in ("train", "dev")},
        hub={"train": HubSplit("google-research-datasets/paws", "labeled_final", "train", ("sentence1", "sentence2", "label")),
             "dev": HubSplit("google-research-datasets/paws", "labeled_final", "validation",
                             ("sentence1", "sentence2", "label"))},
        params={"holdout": {**_HOLDOUT, "group": "text_a"}},
        train_note=_holdout_note("PAWS-Wiki's labeled test set (8000 pairs)", "first sentence",
                                 "PAWS-Wiki's train set"),
        license=_license(PAWS_WIKI_LICENSE),
        description="PAWS-Wiki (English) paraphrase adversaries from word scrambling",
    ),
    "squad2": Task(
        name="squad2", role="intermediate", kind="qa", labels=(), languages=("en",),
        local=_holdout_files("squad2/slice_dev-v2.0.json", "squad_json"),
        hub={"train": HubSplit("rajpurkar/squad_v2", None, "train", format="squad_json"),
             "dev": HubSplit("rajpurkar/squad_v2", None, "validation", format="squad_json")},
        metric="squad_v2_f1", extra_metrics=("squad_v2_em",), category="qa",
        params={"no_answer": True, "holdout": {**_HOLDOUT, "group": "context"}},
        train_note=_holdout_note("a slice of SQuAD 2.0's dev set (2 articles, 706 questions, 320 unanswerable)",
                                 "context", "SQuAD 2.0's train set"),
        license=_license("SQuAD 2.0: CC BY-SA 4.0"),
        description="SQuAD 2.0: extractive QA with unanswerable questions (trained to point at the first token)",
    ),
})


UNKNOWN_LICENSE = {"train": "unknown", "dev": "unknown"}


def data_license(name: str) -> dict:
    """The data licenses of a task's weights ({"train", "dev"}); "unknown" where the registry has none."""
    task = TASKS.get(name)
    return dict(task.license) if task is not None and task.license else dict(UNKNOWN_LICENSE)


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise AdaptxError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
