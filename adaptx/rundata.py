"""The data of one run: which rows of which files every stage reads, loaded and encoded once.

Tasks come from the registry, plus the mixtures a config defines (`multitask`, an intermediate
task mixed with masked-LM batches). Samples are seeded and label-stratified; zero-shot dev rows
exclude the rows used for model selection. `load_all(stages)` works out every (task, split, language)
the stages need and reads, samples and encodes them in one pass down before anything trains, so
bad data fails in seconds; afterwards every lookup is a dictionary read.
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import ExperimentConfig
from .data import LoadedSplit, load_raw_text, load_split, load_task, sample_ids, with_translations
from .errors import AdaptxError
from .fingerprint import sha256_text
from .kinds import get_kind
from .kinds.base import Encoding
from .kinds.retrieval import check_mining_sample
from .kinds.mixture import MixtureKind
from .mixture import MLM, MULTITASK, mixture_task
from .sampling import mixture_weights
from .tasks import Task, get_task
from .zoo_refs import is_zoo_ref


class RunData:
    """Tasks, splits, row samples and encodings of one run, keyed by (task, split, language).

    `load_all(stages)` works out every key the plan needs (`needed`) and loads them in one pass
    down: the task, its rows as read, the sampled row ids, their encoding; a mixture is combined
    from its parts' encodings, loaded before it. Afterwards every lookup is a dictionary read; a key
    outside the plan (zoo rescoring, ranking) is loaded the same way when first asked for."""

    def __init__(self, cfg: ExperimentConfig, data_dir, tokenizer):
        self.cfg = cfg
        self.data_dir = data_dir
        self.tokenizer = tokenizer
        self.targets = [get_task(t) for t in cfg.targets]
        self.languages = {t.name: [lang for lang in (cfg.languages or t.languages) if lang in t.languages]
                          for t in self.targets}
        self._tasks: dict[str, Task] = run_tasks(cfg)
        self._splits: dict[tuple, LoadedSplit] = {}
        self._rows: dict[tuple, list[int]] = {}
        self._encoded: dict[tuple, Encoding] = {}
        self.eval_splits = {t.name: plan_eval_splits(cfg, t, self.languages[t.name], data_dir) for t in self.targets}

    def for_config(self, cfg: ExperimentConfig) -> RunData:
        """The same catalog for another config with the same data settings (a search trial): loaded
        splits and encodings are shared, the tasks a config defines are its own."""
        other = object.__new__(RunData)
        other.__dict__.update(self.__dict__, cfg=cfg)
        other._tasks = {**self._tasks, **run_tasks(cfg)}
        mine, theirs = self.cfg.data, cfg.data
        if (mine.max_eval_examples, mine.eval_split) != (theirs.max_eval_examples, theirs.eval_split):
            # other evaluation rows (search_defaults' held-apart English rows): sampled anew, not shared
            other._rows = {k: v for k, v in self._rows.items() if not k[1].startswith("eval-")}
            other._encoded = {k: v for k, v in self._encoded.items() if not k[1].startswith("eval-")}
        if cfg.languages != self.cfg.languages or mine.eval_split != theirs.eval_split:
            other.languages = {t.name: [x for x in (cfg.languages or t.languages) if x in t.languages] for t in other.targets}
            other.eval_splits = {t.name: plan_eval_splits(cfg, t, other.languages[t.name], self.data_dir)
                                 for t in other.targets}
        return other

    def missing_languages(self, task_name: str) -> list[str]:
        return [lang for lang, split in self.eval_splits[task_name].items() if split is None]

    # -- the plan: every (task, split, language) the stages and the evaluation need ---------------
    def needed(self, stages) -> list[tuple]:
        """The keys of the splits the stages train and select on and the targets are evaluated on, in
        load order: a mixture's parts before the mixture."""
        keys: dict[tuple, None] = {}
        for stage in stages:
            if stage.trains:
                self._need(keys, (self.trained_task(stage), "train", "en"))
                self._need(keys, (self.trained_task(stage), "dev", "en"))
        for target in self.targets:
            for lang, split in self.eval_splits[target.name].items():
                if split is not None:
                    self._need(keys, (target.name, f"eval-{split}", lang))
        return list(keys)

    def _need(self, keys: dict, key: tuple) -> None:
        """Add a key after what it is made of: a mixture's parts; for zero-shot dev rows held apart from
        model selection, the English dev split they are held apart from."""
        task_name, split, lang = key
        if self._holds_selection_apart(task_name, split, lang):
            keys.setdefault((task_name, "dev", "en"))
        for part in self.parts(task_name, split):  # the parts of a mixture are tasks, never mixtures
            keys.setdefault((part, split, lang))
        keys.setdefault(key)

    def load_all(self, stages) -> None:
        """Read, sample and encode every split the plan needs, before anything trains: bad data fails in
        seconds. A BUCC sample needs enough gold pairs to score."""
        self._load(self.needed(stages))
        for target in self.targets:
            for lang, split in self.eval_splits[target.name].items():
                if split is not None and target.params.get("mining"):
                    key = (target.name, f"eval-{split}", lang)
                    _check_gold_pairs(target, self._encoded[key], self._splits[key], lang)

    def _load(self, keys: list[tuple]) -> None:
        """The pass down, level by level, for the keys not loaded yet (parts and dev rows before what
        needs them): their tasks, their rows as read, the sampled row ids, their encodings."""
        keys = [key for key in keys if key not in self._encoded]
        leaves = [key for key in keys if not self.parts(key[0], key[1])]
        for task_name in dict.fromkeys(task_name for task_name, _, _ in keys):
            self.task(task_name)
        for key in leaves:
            if key not in self._splits:
                self._splits[key] = self._read(*key)
        for key in leaves:
            if key not in self._rows:
                self._rows[key] = self._sample(*key)
        for key in keys:
            self._encoded[key] = self._encode(*key)

    def _read(self, task_name: str, split: str, lang: str) -> LoadedSplit:
        """Every row of a split as its file (or hub split) holds it; raw text for masked-LM batches."""
        if task_name == MLM:
            return load_raw_text(self.cfg.intermediate.mlm.source)
        task, translated = self._tasks[task_name], split == "train" and task_name in translated_tasks(self.cfg)
        loaded = load_split(task, split, lang, task.source(self.cfg.data.source), self.data_dir)
        return with_translations(self.cfg.intermediate.translated, task, loaded) if translated else loaded

    def _sample(self, task_name: str, split: str, lang: str) -> list[int]:
        """The rows a run uses: seeded, label-stratified samples; zero-shot dev rows exclude the
        rows used for model selection (and, in row-aligned translations, their translations)."""
        d, examples = self.cfg.data, self._splits[(task_name, split, lang)].examples
        labels = [getattr(e, "label", 0) for e in examples]  # kinds without a label: a plain random sample
        k = {"train": d.max_train_examples, "dev": d.max_dev_examples}.get(split, d.max_eval_examples)
        exclude, dev = set(), (task_name, "dev", "en")
        if task_name == MLM:
            k = self.cfg.intermediate.mlm.max_texts
        elif self._holds_selection_apart(task_name, split, lang):
            exclude = _selection_rows(examples, self._splits[dev].examples, self._rows[dev])
        return sample_ids(labels, k, d.sample_seed, exclude)

    def _holds_selection_apart(self, task_name: str, split: str, lang: str) -> bool:
        """Whether zero-shot dev rows exclude the English dev rows of model selection: in English, and in
        translations of the English dev file."""
        return split == "eval-dev" and (self.task(task_name).dev_row_aligned or lang == "en")

    def _encode(self, task_name: str, split: str, lang: str) -> Encoding:
        task, parts = self._tasks[task_name], self.parts(task_name, split)
        if parts:
            return get_kind(task.kind).combine(task, [(name, self._encoded[(name, split, lang)]) for name in parts])
        loaded, ids = self._splits[(task_name, split, lang)], self._rows[(task_name, split, lang)]
        encoding = get_kind(task.kind).encode(task, [loaded.examples[i] for i in ids], self.tokenizer,
                                              self.cfg.max_seq_length)
        encoding.ids = ids
        encoding.context.update(loaded.context, n_all=len(loaded.examples))
        return encoding

    # -- tasks: the registry's, and the mixtures this run trains --------------------------
    def task(self, name: str) -> Task:
        """A task of this run: a mixture it defines, else the registry's entry, with its label set
        read from the data where the registry names a label file (CCG's categories)."""
        if name not in self._tasks:
            self._tasks[name] = load_task(name, self.cfg.data.source, self.data_dir)
        return self._tasks[name]

    def source_for(self, task_name: str) -> str:
        """data.source, except for a task with no hub source at all (CCG), which reads the local folder."""
        return self.task(task_name).source(self.cfg.data.source)

    def is_mixture(self, task_name: str) -> bool:
        """A mixture this run defines (the registry has none)."""
        task = self._tasks.get(task_name)
        return task is not None and isinstance(get_kind(task.kind), MixtureKind)

    def trained_task(self, stage) -> str:
        """The task whose data a stage trains on: its own, or for an intermediate stage with
        intermediate.mlm its mixture with masked-LM batches."""
        if stage.kind.startswith("intermediate") and self.cfg.intermediate.mlm.source:
            return f"{stage.task}+{MLM}"
        return stage.task

    def parts(self, task_name: str, split: str) -> list[str]:
        """The tasks a split of a mixture is made of (masked-LM text in training only); [] for a task
        that is not a mixture."""
        if not self.is_mixture(task_name):
            return []
        params = self.task(task_name).params
        mlm = [MLM] if params.get("mlm") and split == "train" else []
        return [*params["tasks"], *mlm]

    # -- data: dictionary reads once loaded ------------------------------------------------
    def split(self, task_name: str, split: str, lang: str = "en") -> LoadedSplit:
        """Every row of a split as its file (or hub split) holds it."""
        return self._loaded(self._splits, (task_name, split, lang))

    def row_ids(self, task_name: str, split: str, lang: str = "en") -> list[int]:
        """The row ids of a split that the run uses (its seeded sample)."""
        return self._loaded(self._rows, (task_name, split, lang))

    def data(self, task_name: str, split: str, lang: str = "en") -> Encoding:
        """The sampled rows of a split, encoded by the task's kind (a mixture: its tasks, each encoded alone)."""
        return self._loaded(self._encoded, (task_name, split, lang))

    def _loaded(self, table: dict, key: tuple):
        if key not in table:  # outside the plan (zoo rescoring, ranking): loaded by the same pass
            keys: dict[tuple, None] = {}
            self._need(keys, key)
            self._load(list(keys))
        return table[key]

    def origin(self, task_name: str, split: str) -> str:
        parts = self.parts(task_name, split)
        if parts:
            return " | ".join(f"{name}: {self.split(name, split).origin}" for name in parts)
        return self.split(task_name, split).origin

    def data_recipe(self, task_name: str, split: str, lang: str = "en") -> dict:
        """What a stage read: the file's content digest and which of its rows (a mixture: of every part)."""
        parts = self.parts(task_name, split)
        if parts:
            recipes = [self._read_recipe(name, split, lang) for name in parts]
            return {"content": "+".join(p["content"] for p in recipes),
                    "rows": sha256_text(json.dumps([p["rows"] for p in recipes]))[:16],
                    "n": sum(p["n"] for p in recipes)}
        return self._read_recipe(task_name, split, lang)

    def _read_recipe(self, task_name: str, split: str, lang: str) -> dict:
        ids = self.row_ids(task_name, split, lang)
        return {"content": self.split(task_name, split, lang).digest, "rows": sha256_text(json.dumps(ids))[:16],
                "n": len(ids)}

    def skipped(self, task_name: str, split: str) -> dict:
        """Rows left out (or added: translations) while loading, and problems counted while encoding."""
        parts = self.parts(task_name, split)
        if parts:
            return {f"{name}: {k}": v for name in parts
                    for k, v in {**self.split(name, split).skipped, **self.data(name, split).skipped}.items()}
        return {**self.split(task_name, split).skipped, **self.data(task_name, split).skipped}

    def mixture_summary(self, task_name: str) -> dict | None:
        """Which tasks a mixture trains on and each one's share of the steps (None: not a mixture)."""
        if not self.is_mixture(task_name):
            return None
        task = self.task(task_name)
        parts = self.data(task.name, "train").context["parts"]
        mlm = task.params.get("mlm")
        weights = mixture_weights([len(e.examples) for n, e in parts if n != MLM], task.params.get("cap"),
                                  mlm["rate"] if mlm else None)
        return {"tasks": list(task.params["tasks"]), "cap": task.params.get("cap"), "mlm": mlm,
                "examples": {n: len(e.examples) for n, e in parts},
                "step_share": {n: round(float(w), 4) for (n, _), w in zip(parts, weights)}}


def _check_gold_pairs(task: Task, encoding: Encoding, loaded: LoadedSplit, lang: str) -> None:
    """A BUCC sample needs gold pairs in both halves (threshold and score): refused before training."""
    check_mining_sample(task.name, [e.gold for e in encoding.examples],
                        sum(e.gold is not None for e in loaded.examples), f"{loaded.origin} ({lang})")


# -- what a RunData is built from: pure functions of the config and the registry ------------------

def run_tasks(cfg: ExperimentConfig) -> dict[str, Task]:
    """The tasks a config defines: the multitask mixture (`multitask` in intermediate_tasks), and with
    intermediate.mlm each intermediate task mixed with masked-LM batches ('<task>+mlm': what its stages
    train on)."""
    tasks, mlm = {}, cfg.intermediate.mlm
    if MULTITASK in cfg.intermediate_tasks:
        tasks[MULTITASK] = mixture_task(MULTITASK, cfg.multitask.tasks, cfg.multitask.cap)
    if mlm.source:
        tasks[MLM] = Task(name=MLM, role="intermediate", kind="mlm", labels=(), languages=(),
                          params={"mask_probability": mlm.mask_probability},
                          description=f"masked-LM batches on raw text from {mlm.source}")
        settings = {"rate": mlm.rate, "mask_probability": mlm.mask_probability, "source": mlm.source,
                    "max_texts": mlm.max_texts}
        for name in cfg.intermediate_tasks:
            if not is_zoo_ref(name):
                parts = cfg.multitask.tasks if name == MULTITASK else [name]
                tasks[f"{name}+{MLM}"] = mixture_task(f"{name}+{MLM}", parts, cfg.multitask.cap, settings)
    return tasks


def plan_eval_splits(cfg: ExperimentConfig, task: Task, languages: list[str], data_dir) -> dict[str, str | None]:
    """The split each language is evaluated on: the configured one, or test where labeled, else
    dev; None where this data source has neither for the language (reported as missing)."""
    source, requested = cfg.data.source, cfg.data.eval_split
    plan = {lang: _available_split(cfg, task, lang, data_dir) for lang in languages}
    missing = [lang for lang, split in plan.items() if split is None]
    if missing and requested:
        have = [lang for lang, split in plan.items() if split is not None]
        raise AdaptxError(
            f"data.eval_split: {task.name} has no labeled {requested} split for {', '.join(missing)} in its "
            f"{source} source (it has one for: {', '.join(have) or 'none'}); set data.eval_split: null "
            "(test where labeled, else dev rows held apart from model selection) or drop those languages"
        )
    if missing and cfg.languages and source == "local":
        split = task.eval_split_for(source, missing[0], None)
        if split:  # the user asked for this language and its file should be there: say which
            load_split(task, f"eval-{split}", missing[0], source, data_dir)
    if len(missing) == len(plan):
        raise AdaptxError(f"{task.name}: no language has evaluation data in the {source} source "
                          f"({', '.join(missing)}); {task.description}. Use data.source: hub, or another task")
    return plan


def _available_split(cfg: ExperimentConfig, task: Task, lang: str, data_dir) -> str | None:
    requested = cfg.data.eval_split
    for split in ([requested] if requested else ["test", "dev"]):
        spec = task.spec(cfg.data.source, f"eval-{split}", lang)
        if spec is None:
            continue
        if cfg.data.source == "local" and data_dir is not None:
            files = [spec.path.format(lang=lang), *spec.extra]
            if not all((Path(data_dir) / f).is_file() for f in files) and not cfg.languages:
                continue  # every language of the task was asked for: this one is reported missing
        return split
    return None


def _selection_rows(examples: list, dev_examples: list, selection: list[int]) -> set[int]:
    """The rows of a zero-shot dev split that model selection used: the same rows (row-aligned
    translations), or in QA the rows of the selected questions' ids (translations share ids, not rows)."""
    if hasattr(examples[0], "id"):
        chosen = {dev_examples[i].id for i in selection}
        return {i for i, e in enumerate(examples) if e.id in chosen}
    return set(selection)


def translated_tasks(cfg: ExperimentConfig) -> list[str]:
    """The intermediate tasks whose training data intermediate.translated changes."""
    tr = cfg.intermediate.translated
    if tr.dir is None:
        return []
    trained = [t for t in cfg.intermediate_tasks if not is_zoo_ref(t) and t != MULTITASK]
    trained += cfg.multitask.tasks if MULTITASK in cfg.intermediate_tasks else []
    return list(tr.tasks) or list(dict.fromkeys(trained))
