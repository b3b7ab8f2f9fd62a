"""Readers for the English intermediate tasks in their official formats (adaptx.readers has the XTREME ones).

- CCG supertagging (CCGbank is LDC-licensed; no public copy): either CCGbank's `.auto` trees, one
  `ID=...` line then one tree line per sentence, whose leaves are `(<L category POS POS word pred-arg>)`,
  or the C&C tools' supertagger training format (`wsj02-21.stagged`): one sentence per line, tokens
  `word|POS|category` separated by spaces, `#` comment lines at the top. The tag set is a file with
  one category per line (C&C's and EasyCCG's `categories` file).
- Multiple choice: CommonsenseQA jsonl (the Hugging Face export, `choices: {label, text}`, or the
  official `question: {stem, choices: [{label, text}]}`), Cosmos QA CSV (id, context, question,
  answer0..answer3, label), HellaSwag's plain-text export (6 lines per item: context, label, 4 endings;
  optionally bz2-compressed), and the hub schemas of tau/commonsense_qa, allenai/cosmos_qa, Rowan/hellaswag.

Every problem is an AdaptxError naming the file and line (or hub row) and what was expected.
"""

from __future__ import annotations

import bz2
import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

from .errors import AdaptxError
from .readers import TEXT_ENCODING, TaggedSentence, _check_tag, _lines, json_lines

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class MultipleChoiceExample:
    """One question: `context` is the first segment of every (context, choice) pair; `question`
    (may be empty) is put before each choice in the second segment; `label` indexes `choices`."""

    id: str
    context: str
    question: str
    choices: tuple[str, ...]
    label: int


# --- CCG supertagging ---------------------------------------------------------------------------

_AUTO_LEAF = re.compile(r"\(<L (\S+) (\S+) (\S+) (\S+) (\S+)>\)")


def read_tag_set(path) -> tuple[str, ...]:
    """A tag set file: one tag per line (C&C's `categories`); blank lines and '# ' comments skipped."""
    tags, seen = [], {}
    for line_no, line in _lines(path):
        tag = line.strip()
        if not tag or line.startswith("# "):
            continue
        if tag in seen:
            raise AdaptxError(f"{path}, line {line_no}: tag {tag!r} is listed twice (first on line {seen[tag]})")
        seen[tag] = line_no
        tags.append(tag)
    if not tags:
        raise AdaptxError(f"{path}: no tags (expected one category per line)")
    return tuple(tags)


def read_ccg(path, allowed_tags: Collection[str] | None = None) -> list[TaggedSentence]:
    """CCG supertags from CCGbank `.auto` trees or C&C `word|POS|category` lines (detected per line)."""
    sentences = []
    for line_no, line in _lines(path):
        text = line.strip()
        where = f"{path}, line {line_no}"
        if not text or text.startswith("# ") or text == "#" or text.startswith("ID="):
            continue  # blank, C&C's comment header, or the .auto sentence header
        if text.startswith("(<"):
            leaves = _AUTO_LEAF.findall(text)
            if not leaves:
                raise AdaptxError(f"{where}: a CCGbank .auto tree without leaves '(<L category POS POS word "
                                  f"pred-arg>)': {text[:80]!r}")
            words, tags = [leaf[3] for leaf in leaves], [leaf[0] for leaf in leaves]
        else:
            words, tags = [], []
            for token in text.split():
                parts = token.rsplit("|", 2)  # a word may contain '|'; POS and category never do
                if len(parts) != 3 or not all(parts):
                    raise AdaptxError(f"{where}: token {token!r} is not 'word|POS|category' (C&C's supertagger "
                                      "format), and the line is not a CCGbank .auto tree '(<T ...'")
                words.append(parts[0])
                tags.append(parts[2])
        for tag in tags:
            _check_tag(tag, allowed_tags, where)
        sentences.append(TaggedSentence(words, tags))
    if not sentences:
        raise AdaptxError(f"{path}: no sentences (expected CCGbank .auto trees or C&C word|POS|category lines)")
    return sentences


# --- multiple choice ----------------------------------------------------------------------------

def _choice_example(qid, context, question, choices, label, num_choices: int, where: str) -> MultipleChoiceExample:
    if not isinstance(context, str) or not context.strip():
        raise AdaptxError(f"{where}: empty or missing context/question text")
    if len(choices) != num_choices:
        raise AdaptxError(f"{where}: {len(choices)} answer choices; this task has exactly {num_choices}")
    for i, choice in enumerate(choices):
        if not isinstance(choice, str) or not choice.strip():
            raise AdaptxError(f"{where}: answer choice {i} is empty or not text ({choice!r})")
    if isinstance(label, str) and label.strip().lstrip("-").isdigit():
        label = int(label.strip())
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < num_choices:
        raise AdaptxError(f"{where}: label {label!r} is out of range; expected 0..{num_choices - 1}")
    return MultipleChoiceExample(str(qid), context, question or "", tuple(choices), label)


def _commonsenseqa_record(record, where: str, num_choices: int) -> MultipleChoiceExample:
    question = record.get("question")
    if isinstance(question, dict):  # the official release: question {stem, choices: [{label, text}]}
        stem, items = question.get("stem"), question.get("choices") or []
        letters = [c.get("label") for c in items if isinstance(c, dict)]
        texts = [c.get("text") for c in items if isinstance(c, dict)]
    else:  # the Hugging Face export: question text, choices {label: [...], text: [...]}
        choices = record.get("choices") or {}
        stem, letters, texts = question, list(choices.get("label") or []), list(choices.get("text") or [])
    key = record.get("answerKey")
    if key not in letters:
        raise AdaptxError(f"{where}: answerKey {key!r} is not one of the choice labels {letters}")
    return _choice_example(record.get("id"), stem, "", texts, letters.index(key), num_choices, where)


def read_commonsenseqa(path, num_choices: int = 5) -> list[MultipleChoiceExample]:
    """CommonsenseQA jsonl, one question per line (HF export or the official nested form)."""
    return [_commonsenseqa_record(record, f"{path}, line {line_no}", num_choices)
            for line_no, record in json_lines(path)]


COSMOS_COLUMNS = ("id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label")


def read_cosmosqa(path, num_choices: int = 4) -> list[MultipleChoiceExample]:
    """Cosmos QA CSV (quoted fields may hold commas and line breaks): the header names
    id, context, question, answer0..answer3, label."""
    path = Path(path)
    if not path.is_file():
        raise AdaptxError(f"missing data file {path}")
    out = []
    try:
        with open(path, encoding=TEXT_ENCODING, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            missing = [c for c in COSMOS_COLUMNS if c not in (header or [])]
            if missing:
                raise AdaptxError(f"{path}, line 1: header {header} lacks columns {missing}; expected "
                                  f"{', '.join(COSMOS_COLUMNS)}")
            index = {name: header.index(name) for name in COSMOS_COLUMNS}
            answers = [f"answer{i}" for i in range(num_choices)]
            start = reader.line_num + 1
            for row in reader:
                where = f"{path}, line {start}"
                start = reader.line_num + 1
                if not row:
                    continue
                if len(row) != len(header):
                    raise AdaptxError(f"{where}: {len(row)} fields, the header has {len(header)} (an unquoted comma "
                                      "or a missing answer column?)")
                get = {name: row[i] for name, i in index.items()}
                out.append(_choice_example(get["id"], get["context"], get["question"], [get[a] for a in answers],
                                           get["label"], num_choices, where))
    except UnicodeDecodeError as exc:
        raise AdaptxError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except csv.Error as exc:
        raise AdaptxError(f"{path}: not valid CSV ({exc})") from exc
    return out


def _text_lines(path: Path):
    """(line number, line) of a text file, read through bz2 when the name ends in .bz2; a truncated
    or damaged stream is an error naming the last line that was read."""
    path = Path(path)
    if not path.is_file():
        raise AdaptxError(f"missing data file {path}")
    line_no = 0
    opener = bz2.open if path.suffix == ".bz2" else open
    try:
        with opener(path, "rt", encoding=TEXT_ENCODING, newline="\n") as handle:
            for line_no, line in enumerate(handle, start=1):
                yield line_no, line.rstrip("\n").rstrip("\r")
    except EOFError as exc:
        raise AdaptxError(f"{path}: the bz2 stream ends early, after line {line_no} ({exc}); the file is truncated: "
                          "download it again") from exc
    except OSError as exc:  # bz2 reports a corrupt stream as OSError("Invalid data stream")
        raise AdaptxError(f"{path}: cannot be read after line {line_no} ({exc}); the file is damaged or not "
                          f"{'bz2' if path.suffix == '.bz2' else 'text'}: download it again") from exc
    except UnicodeDecodeError as exc:
        raise AdaptxError(f"{path}: not UTF-8 text after line {line_no} (byte {exc.start}: {exc.reason})") from exc


def read_hellaswag_txt(path, num_choices: int = 4) -> list[MultipleChoiceExample]:
    """HellaSwag's plain-text export (e.g. hellaswag_val_full.txt.bz2): for every item, one line of
    context ("activity label: context"), one line with the index of the right ending, then one line
    per ending. The item id is its position (0, 1, ...)."""
    size = 2 + num_choices
    out, item = [], []
    for line_no, line in _text_lines(path):
        item.append((line_no, line))
        if len(item) < size:
            continue
        (first, context), (label_line, label) = item[0], item[1]
        where = f"{path}, line {first}"
        if not label.strip().isdigit():
            raise AdaptxError(f"{path}, line {label_line}: expected the index of the right ending "
                              f"(0-{num_choices - 1}) "
                              f"of the item starting on line {first}, found {label[:60]!r}; each item is {size} lines "
                              f"(context, label, {num_choices} endings)")
        out.append(_choice_example(len(out), context, "", [text for _, text in item[2:]], label, num_choices, where))
        item = []
    if item:
        raise AdaptxError(f"{path}, line {item[0][0]}: the last item has {len(item)} of its {size} lines (context, "
                          f"label, {num_choices} endings); the file is cut short")
    if not out:
        raise AdaptxError(f"{path}: no items")
    return out


def multiple_choice_from_hub(rows, schema: str, num_choices: int, where: str = "hub dataset") -> tuple[list, int]:
    """Rows of tau/commonsense_qa ('commonsenseqa'), allenai/cosmos_qa ('cosmosqa') or Rowan/hellaswag
    ('hellaswag'). Returns the examples and how many unlabeled rows (an empty answer key or label, as
    in the hub's test splits) were left out."""
    out, unlabeled = [], 0
    for i, row in enumerate(rows):
        here = f"{where}, row {i}"
        try:
            if schema == "commonsenseqa":
                if not row["answerKey"]:
                    unlabeled += 1
                    continue
                out.append(_commonsenseqa_record(row, here, num_choices))
            elif schema == "cosmosqa":
                out.append(_choice_example(row["id"], row["context"], row["question"],
                                           [row[f"answer{k}"] for k in range(num_choices)], row["label"],
                                           num_choices, here))
            elif schema == "hellaswag":
                if row["label"] in ("", None):
                    unlabeled += 1
                    continue
                context = f"{row['activity_label']}: {row['ctx']}"  # the text export's context line
                out.append(_choice_example(row.get("ind", i), context, "", list(row["endings"]), row["label"],
                                           num_choices, here))
            else:
                raise AdaptxError(f"unknown multiple-choice hub schema {schema!r}")
        except (KeyError, TypeError) as exc:
            raise AdaptxError(f"{here}: not the {schema} hub schema (missing or malformed field {exc})") from None
    return out, unlabeled
