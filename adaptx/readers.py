"""Readers for the XTREME task kinds: tagged sentences, SQuAD-format QA, Tatoeba and BUCC.

Local readers take the files of shared/data's layout (UD CoNLL-U, XTREME's token<TAB>tag files,
SQuAD-format JSON, LASER's Tatoeba line files, BUCC's id<TAB>sentence files); hub mappers turn
rows of the real hub schemas (google/xtreme configs, rajpurkar/squad) into the same dataclasses.
Bad input is an AdaptxError naming the file and line (or question id / row) and what was expected.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Iterable

from .errors import AdaptxError


@dataclass
class TaggedSentence:
    words: list[str]
    tags: list[str]


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: list[tuple[str, int]]  # (text, character start in context)
    is_impossible: bool = False


@dataclass
class BuccData:
    src_ids: list[str]
    src_sentences: list[str]
    tgt_ids: list[str]
    tgt_sentences: list[str]
    gold: set[tuple[str, str]] = field(default_factory=set)  # (src_id, tgt_id)


# Text readers decode with utf-8-sig: a byte-order mark (as Windows editors write one) is not part
# of the first token, id or header name. Without it the mark leads to wrong errors ("expected 10
# CoNLL-U columns" for a '\ufeff# text' comment, "source id not in the sentence file" for BUCC).
TEXT_ENCODING = "utf-8-sig"

# Deeper than any data or manifest format adaptx reads (SQuAD: 9 levels); a deeper document is
# refused before anything recurses over it (json itself, repr in a message, json.dumps).
MAX_JSON_DEPTH = 100


# a field is one passage however long it is (the csv module's default limit is 128 KB); the limit is
# the process's, set here because every TSV reader of adaptx goes through tsv_reader
csv.field_size_limit(sys.maxsize)


def tsv_reader(handle):
    """csv.reader over tab-separated text (quotes are text: NLI sentences hold bare quotes)."""
    return csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)


def parse_json(text: str, where) -> object:
    """json.loads for a file's text (or one JSON-lines line); invalid JSON and nesting deeper than
    MAX_JSON_DEPTH are an AdaptxError naming `where`, never a JSONDecodeError or RecursionError."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AdaptxError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        value = None
        depth = MAX_JSON_DEPTH + 1
    else:
        depth = _json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise AdaptxError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep; no data file or "
                          "manifest adaptx reads nests that deep (a damaged or hostile file)")
    return value


def _json_depth(value) -> int:
    """Nesting depth of parsed JSON (a scalar: 0), walked without recursion; stops past the limit."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            return depth
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _lines(path: Path):
    """(line number, line without its line break) of a UTF-8 text file (a leading BOM dropped)."""
    path = Path(path)
    if not path.is_file():
        raise AdaptxError(f"missing data file {path}")
    try:
        # split on '\n' only: a stray '\r' inside a sentence must not start a new line
        with open(path, encoding=TEXT_ENCODING, newline="\n") as handle:
            for line_no, line in enumerate(handle, start=1):
                yield line_no, line.rstrip("\n").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise AdaptxError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc


def json_lines(path):
    """(line number, record) of each non-empty line of a JSON-lines file; a line that is not a JSON
    object is an error naming file and line."""
    for line_no, line in _lines(path):
        if not line.strip():
            continue
        record = parse_json(line, f"{path}, line {line_no}")
        if not isinstance(record, dict):
            raise AdaptxError(f"{path}, line {line_no}: expected a JSON object, got {type(record).__name__}")
        yield line_no, record


def _check_tag(tag: str, allowed: Collection[str] | None, where: str) -> None:
    if allowed is not None and tag not in allowed:
        raise AdaptxError(f"{where}: tag {tag!r} is not in the label set ({', '.join(sorted(allowed))})")


# --- tagging ----------------------------------------------------------------------------------

_CONLLU_COLUMNS = {"upos": 3, "xpos": 4}


def read_conllu(path, tag_column: str = "upos", allowed_tags: Collection[str] | None = None) -> list[TaggedSentence]:
    """UD CoNLL-U: the syntactic words of each sentence and one tag column ('upos' or 'xpos').

    Comment lines are skipped; multiword-token lines (id '1-2') and empty nodes (id '1.1') are not
    words. Word ids must run 1, 2, 3, ... within a sentence (a missing blank line shows up there).
    """
    if tag_column not in _CONLLU_COLUMNS:
        raise AdaptxError(f"read_conllu: tag_column must be one of {sorted(_CONLLU_COLUMNS)}, got {tag_column!r}")
    column = _CONLLU_COLUMNS[tag_column]
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    first = last = 0  # line numbers of the sentence's first and last word

    def close() -> None:
        if words:
            if all(w == "_" for w in words):  # e.g. UD_Arabic-NYUAD ships no text, only '_'
                raise AdaptxError(f"{path}, lines {first}-{last}: every word form is '_' (a treebank "
                                  "that withholds its text); there is nothing to tag")
            sentences.append(TaggedSentence(list(words), list(tags)))
        words.clear()
        tags.clear()

    for line_no, line in _lines(path):
        if line.startswith("#"):
            continue
        if not line.strip():
            close()
            continue
        cells = line.split("\t")
        where = f"{path}, line {line_no}"
        if len(cells) != 10:
            raise AdaptxError(f"{where}: expected 10 tab-separated CoNLL-U columns, found {len(cells)}")
        word_id = cells[0]
        if re.fullmatch(r"\d+-\d+|\d+\.\d+", word_id):
            continue  # multiword token or empty node: not a syntactic word
        if not word_id.isdigit():
            raise AdaptxError(f"{where}: word id {word_id!r} is not an integer, a range (1-2) or a decimal (1.1)")
        if int(word_id) != len(words) + 1:
            raise AdaptxError(f"{where}: word id {word_id} follows word {len(words)} "
                              "(ids must run 1, 2, 3, ...; is a blank line between sentences missing?)")
        first, last = (line_no if not words else first), line_no
        _check_tag(cells[column], allowed_tags, where)
        words.append(cells[1])
        tags.append(cells[column])
    close()
    return sentences


def _read_token_tag_tsv(path, allowed_tags: Collection[str] | None) -> list[tuple[list[str], list[str], list[int]]]:
    """XTREME's tagging format: token<TAB>tag per line, a blank line between sentences."""
    sentences, words, tags, line_nos = [], [], [], []
    for line_no, line in _lines(path):
        if not line.strip():
            if words:
                sentences.append((words, tags, line_nos))
                words, tags, line_nos = [], [], []
            continue
        cells = line.split("\t")
        where = f"{path}, line {line_no}"
        if len(cells) != 2:
            raise AdaptxError(f"{where}: expected 'token<TAB>tag', found {len(cells)} tab-separated columns")
        if not cells[0].strip() or not cells[1].strip():
            raise AdaptxError(f"{where}: empty token or tag in {line!r}")
        _check_tag(cells[1], allowed_tags, where)
        words.append(cells[0])
        tags.append(cells[1])
        line_nos.append(line_no)
    if words:
        sentences.append((words, tags, line_nos))
    return sentences


def read_xtreme_udpos(path, allowed_tags: Collection[str] | None = None) -> list[TaggedSentence]:
    """XTREME's UD-POS files (udpos/xtreme_format/{train,dev,test}-XX.tsv)."""
    return [TaggedSentence(w, t) for w, t, _ in _read_token_tag_tsv(path, allowed_tags)]


_LANG_PREFIX = re.compile(r"^([a-z]{2,3}):")


def read_panx(path, allowed_tags: Collection[str] | None = None,
              strip_lang_prefix: bool | None = None) -> list[TaggedSentence]:
    """PAN-X (WikiANN) in XTREME's format. XTREME's raw panx_dataset files prefix every token with
    its language ('en:Anton'); its processed files (shared/data/panx) do not, and there a token
    like 'bar:24' is real text. strip_lang_prefix=None strips only when every token of the file
    carries the same prefix (a raw file); the prefix ends at the first ':' as in XTREME's
    utils_preprocess.panx_preprocess."""
    sentences = _read_token_tag_tsv(path, allowed_tags)
    if strip_lang_prefix is None:
        prefixes = {(_LANG_PREFIX.match(w) or [None, None])[1] for ws, _, _ in sentences for w in ws}
        strip_lang_prefix = len(prefixes) == 1 and None not in prefixes
    out = []
    for words, tags, line_nos in sentences:
        if strip_lang_prefix:
            stripped = []
            for word, line_no in zip(words, line_nos):
                if ":" not in word or not word.split(":", 1)[1]:
                    raise AdaptxError(f"{path}, line {line_no}: token {word!r} has no 'lang:' prefix to strip")
                stripped.append(word.split(":", 1)[1])
            words = stripped
        out.append(TaggedSentence(words, tags))
    return out


# --- extractive QA ------------------------------------------------------------------------------

def _check_answer(context: str, text: str, start, where: str) -> None:
    if not isinstance(start, int) or isinstance(start, bool) or not 0 <= start <= len(context) - len(text):
        raise AdaptxError(f"{where}: answer_start {start!r} is outside the context ({len(context)} characters) "
                          f"for answer {text!r}")
    if context[start:start + len(text)] != text:
        raise AdaptxError(f"{where}: answer text {text!r} does not match the context at {start}: "
                          f"{context[start:start + len(text)]!r}")


def read_squad_json(path, require_answers: bool = True, rename_duplicate_ids: bool = False) -> list[QAExample]:
    """SQuAD-format JSON (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP): one QAExample per question.

    Every answer must sit exactly at its answer_start (the XTREME files do). Questions whose answer
    text is empty are unlabeled: XTREME's download strips the TyDiQA-GoldP dev answers that way.
    With require_answers they are an error (there is no gold to score); without, they come back with
    answers=[] and is_impossible=False, for prediction only. SQuAD 2.0's unanswerable questions
    (is_impossible, no answers) are kept as such.

    Question ids must be unique (predictions are keyed by id). XTREME's TyDiQA-GoldP train files
    break that: its preprocessing keeps only the last '-' part of each id ('english-...-0' -> '0');
    rename_duplicate_ids gives the 2nd, 3rd, ... use of an id the suffix '#2', '#3', ...
    """
    path = Path(path)
    if not path.is_file():
        raise AdaptxError(f"missing data file {path}")
    try:
        data = parse_json(path.read_text(encoding=TEXT_ENCODING), path)
    except UnicodeDecodeError as exc:
        raise AdaptxError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    articles = data.get("data") if isinstance(data, dict) else data
    if not isinstance(articles, list):
        raise AdaptxError(f"{path}: expected SQuAD format, a JSON object with a 'data' list of articles")
    examples: list[QAExample] = []
    unlabeled: list[str] = []
    seen: set[str] = set()
    try:
        for a, article in enumerate(articles):
            for p, paragraph in enumerate(article["paragraphs"]):
                context = paragraph["context"]
                for qa in paragraph["qas"]:
                    qid = qa["id"]
                    where = f"{path}, question {qid!r} (article {a}, paragraph {p})"
                    if rename_duplicate_ids and qid in seen:
                        qid = next(f"{qid}#{n}" for n in range(2, len(seen) + 3) if f"{qid}#{n}" not in seen)
                    example = _qa_example(qid, qa["question"], context,
                                          [(ans["text"], ans["answer_start"]) for ans in qa.get("answers", [])],
                                          bool(qa.get("is_impossible", False)), where, seen)
                    if example is None:
                        unlabeled.append(qid)
                        example = QAExample(qid, qa["question"], context, [], False)
                    examples.append(example)
    except (KeyError, TypeError) as exc:
        raise AdaptxError(f"{path}: not SQuAD format (article/paragraph/question record lacks {exc})") from None
    if unlabeled and require_answers:
        raise AdaptxError(f"{path}: {len(unlabeled)} of {len(examples)} questions have an empty answer text "
                          f"(first: {unlabeled[0]!r}); XTREME's TyDiQA-GoldP dev files ship without gold "
                          "answers, so this file cannot be scored (read with require_answers=False to predict)")
    return examples


def _qa_example(qid, question, context, answers, is_impossible, where, seen) -> QAExample | None:
    """A checked QAExample, or None when the question's answers are all empty strings (unlabeled)."""
    if not isinstance(qid, str) or not qid:
        raise AdaptxError(f"{where}: question id must be a non-empty string")
    if qid in seen:
        raise AdaptxError(f"{where}: question id {qid!r} appears twice (predictions are keyed by id; "
                          "for XTREME's TyDiQA train files, whose ids repeat, use rename_duplicate_ids)")
    seen.add(qid)
    if not isinstance(context, str) or not context.strip():
        raise AdaptxError(f"{where}: empty context for question {qid!r}")
    if not isinstance(question, str) or not question.strip():
        raise AdaptxError(f"{where}: empty question text")
    if answers and all(text == "" for text, _ in answers):
        return None
    for text, start in answers:
        if not isinstance(text, str) or not text:
            raise AdaptxError(f"{where}: an answer text is empty or not a string ({text!r})")
        _check_answer(context, text, start, where)
    if is_impossible and answers:
        raise AdaptxError(f"{where}: marked is_impossible but has {len(answers)} answers")
    if not is_impossible and not answers:
        raise AdaptxError(f"{where}: no answers and not marked is_impossible")
    return QAExample(qid, question, context, list(answers), is_impossible)


def qa_examples_from_hub(rows: Iterable[dict], where: str = "hub dataset",
                         realign: bool = True) -> tuple[list[QAExample], int]:
    """Rows of google/xtreme XQuAD.<lang>, MLQA.<ctx>.<q>, tydiqa, SQuAD and rajpurkar/squad
    (id, context, question, answers{text: [...], answer_start: [...]}; title where present).

    A row without answers (rajpurkar/squad_v2's unanswerable questions) comes back is_impossible.
    Returns the examples and how many answers were realigned. The hub builders strip contexts and
    answer texts, which shifts answer_start where there was leading whitespace (a known hub bug);
    with realign such an answer moves to the occurrence of its text nearest to the given start,
    and only an answer whose text is nowhere in the context is an error.
    """
    examples, seen, realigned = [], set(), 0
    for i, row in enumerate(rows):
        here = f"{where}, row {i} (id {row.get('id')!r})"
        try:
            texts, starts = row["answers"]["text"], row["answers"]["answer_start"]
            qid, question, context = row["id"], row["question"], row["context"]
        except (KeyError, TypeError):
            raise AdaptxError(f"{here}: expected columns id, question, context, answers{{text, answer_start}}, "
                              f"found {sorted(row) if isinstance(row, dict) else type(row).__name__}") from None
        if len(texts) != len(starts):
            raise AdaptxError(f"{here}: {len(texts)} answer texts for {len(starts)} answer starts")
        answers = []
        for text, start in zip(texts, starts):
            if realign and isinstance(context, str) and text and context[start:start + len(text)] != text:
                found = [m.start() for m in re.finditer(re.escape(text), context)]
                if found:
                    start = min(found, key=lambda s: (abs(s - start), s))
                    realigned += 1
            answers.append((text, start))
        example = _qa_example(qid, question, context, answers, not answers, here, seen)
        if example is None:
            raise AdaptxError(f"{here}: every answer text is empty (unlabeled row)")
        examples.append(example)
    return examples, realigned


# --- tagging from the hub -------------------------------------------------------------------------

def tagged_sentences_from_hub(rows, tag_column: str, tag_names: list[str] | None = None,
                              where: str = "hub dataset") -> list[TaggedSentence]:
    """Rows with 'tokens' and a tag column of ClassLabel ints (google/xtreme udpos.<Language>:
    pos_tags; PAN-X.<lang>: ner_tags, whose 'langs' column is ignored). The names come from the
    dataset's features unless given. Rows without tokens are dropped."""
    if tag_names is None:  # Sequence(ClassLabel) (or List(ClassLabel)) in the dataset's features
        feature = (getattr(rows, "features", None) or {}).get(tag_column)
        tag_names = getattr(getattr(feature, "feature", None), "names", None)
    out = []
    for i, row in enumerate(rows):
        here = f"{where}, row {i}"
        try:
            tokens, tags = list(row["tokens"]), list(row[tag_column])
        except KeyError:
            raise AdaptxError(f"{here}: expected columns 'tokens' and {tag_column!r}, found {sorted(row)}") from None
        if len(tokens) != len(tags):
            raise AdaptxError(f"{here}: {len(tokens)} tokens for {len(tags)} tags")
        names = []
        for tag in tags:
            if isinstance(tag, str):
                names.append(tag)
            elif tag_names is not None and isinstance(tag, int) and 0 <= tag < len(tag_names):
                names.append(tag_names[tag])
            else:
                raise AdaptxError(f"{here}: tag {tag!r} is not a tag name or an index into "
                                  f"{tag_names if tag_names is not None else 'a known ClassLabel (none given)'}")
        if tokens:
            out.append(TaggedSentence(tokens, names))
    return out


def udpos_from_hub(rows, where: str = "hub dataset") -> list[TaggedSentence]:
    return tagged_sentences_from_hub(rows, "pos_tags", where=where)


def panx_from_hub(rows, where: str = "hub dataset") -> list[TaggedSentence]:
    return tagged_sentences_from_hub(rows, "ner_tags", where=where)


# --- retrieval ----------------------------------------------------------------------------------

def read_tatoeba(src_path, tgt_path) -> tuple[list[str], list[str]]:
    """LASER's tatoeba.<xxx>-eng.<xxx> and .eng: line i of one translates line i of the other."""
    src = [line for _, line in _lines(src_path)]
    tgt = [line for _, line in _lines(tgt_path)]
    if len(src) != len(tgt):
        raise AdaptxError(f"Tatoeba files differ in length: {src_path} has {len(src)} lines, "
                          f"{tgt_path} has {len(tgt)}; line i of one must translate line i of the other")
    if not src:
        raise AdaptxError(f"{src_path}: no sentences")
    for path, lines in ((src_path, src), (tgt_path, tgt)):
        for i, line in enumerate(lines, start=1):
            if not line.strip():
                raise AdaptxError(f"{path}, line {i}: empty sentence")
    return src, tgt


def tatoeba_from_hub(rows, where: str = "hub dataset") -> tuple[list[str], list[str]]:
    """google/xtreme tatoeba.<iso3> rows (source_sentence, target_sentence = English, ...); the hub
    builder kept each line's newline, which is dropped here."""
    src, tgt = [], []
    for i, row in enumerate(rows):
        try:
            s, t = row["source_sentence"].rstrip("\r\n"), row["target_sentence"].rstrip("\r\n")
        except (KeyError, AttributeError):
            raise AdaptxError(f"{where}, row {i}: expected text columns source_sentence and target_sentence") from None
        if not s.strip() or not t.strip():
            raise AdaptxError(f"{where}, row {i}: empty sentence")
        src.append(s)
        tgt.append(t)
    return src, tgt


def _read_id_sentences(path) -> tuple[list[str], list[str]]:
    ids, sentences, seen = [], [], set()
    for line_no, line in _lines(path):
        if not line.strip():
            continue
        cells = line.split("\t", 1)
        where = f"{path}, line {line_no}"
        if len(cells) != 2 or not cells[0] or not cells[1].strip():
            raise AdaptxError(f"{where}: expected 'id<TAB>sentence', found {line[:60]!r}")
        if cells[0] in seen:
            raise AdaptxError(f"{where}: sentence id {cells[0]!r} appears twice")
        seen.add(cells[0])
        ids.append(cells[0])
        sentences.append(cells[1])
    if not ids:
        raise AdaptxError(f"{path}: no sentences")
    return ids, sentences


def read_bucc_gold(path, src_ids: Collection[str] | None = None,
                   tgt_ids: Collection[str] | None = None) -> set[tuple[str, str]]:
    """BUCC gold alignments, 'src_id<TAB>tgt_id' per line; ids are checked when the id sets are given."""
    gold = set()
    for line_no, line in _lines(path):
        if not line.strip():
            continue
        cells = line.split("\t")
        where = f"{path}, line {line_no}"
        if len(cells) != 2 or not all(cells):
            raise AdaptxError(f"{where}: expected 'source_id<TAB>target_id', found {line[:60]!r}")
        for cell, known, side in ((cells[0], src_ids, "source"), (cells[1], tgt_ids, "target")):
            if known is not None and cell not in known:
                raise AdaptxError(f"{where}: {side} id {cell!r} is not in the {side} sentence file")
        gold.add((cells[0], cells[1]))
    return gold


def read_bucc(src_sentences, tgt_sentences, gold=None) -> BuccData:
    """BUCC 2018 in XTREME's layout: xx-en.<split>.xx and xx-en.<split>.en ('id<TAB>sentence'),
    and optionally xx-en.<split>.gold ('src_id<TAB>tgt_id')."""
    src_ids, src = _read_id_sentences(src_sentences)
    tgt_ids, tgt = _read_id_sentences(tgt_sentences)
    pairs = read_bucc_gold(gold, set(src_ids), set(tgt_ids)) if gold is not None else set()
    return BuccData(src_ids, src, tgt_ids, tgt, pairs)


def bucc_from_hub(rows, where: str = "hub dataset") -> BuccData:
    """google/xtreme bucc18.<lang> rows: source_sentence, target_sentence and the two sentence ids,
    which the hub names source_lang and target_lang (source_id/target_id accepted too).

    The hub holds only the gold pairs, no unaligned sentences, so mining there is far easier than
    the BUCC task; numbers from it are not comparable with BUCC results.
    """
    data = BuccData([], [], [], [])
    known: dict[tuple[str, str], str] = {}
    for i, row in enumerate(rows):
        here = f"{where}, row {i}"
        src_id = row.get("source_id", row.get("source_lang"))
        tgt_id = row.get("target_id", row.get("target_lang"))
        src, tgt = row.get("source_sentence"), row.get("target_sentence")
        if not all(isinstance(v, str) and v.strip() for v in (src_id, tgt_id, src, tgt)):
            raise AdaptxError(f"{here}: expected non-empty source_sentence, target_sentence and their ids "
                              f"(source_lang/target_lang), found {row!r:.120}")
        for side, sid, text, ids, sentences in (("source", src_id, src, data.src_ids, data.src_sentences),
                                                ("target", tgt_id, tgt, data.tgt_ids, data.tgt_sentences)):
            if (side, sid) in known:
                if known[(side, sid)] != text:
                    raise AdaptxError(f"{here}: {side} id {sid!r} has two different sentences")
                continue
            known[(side, sid)] = text
            ids.append(sid)
            sentences.append(text)
        data.gold.add((src_id, tgt_id))
    return data
