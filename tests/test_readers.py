"""Readers for the XTREME kinds: local formats on small hand-written files, hub mappers on
datasets built in the real hub schemas, and (integration) every relevant file in shared/data."""

import json

import datasets
import pytest

from adaptx.errors import AdaptxError
from adaptx.readers import (
    bucc_from_hub,
    panx_from_hub,
    qa_examples_from_hub,
    read_bucc,
    read_bucc_gold,
    read_conllu,
    read_panx,
    read_squad_json,
    read_tatoeba,
    read_xtreme_udpos,
    tatoeba_from_hub,
    udpos_from_hub,
)

UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"]
NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def row(*cells):
    return "\t".join(cells) + "\n"


# --- CoNLL-U ------------------------------------------------------------------------------------

CONLLU = (
    "# sent_id = 1\n# text = I'm home.\n"
    + row("1-2", "I'm", "_", "_", "_", "_", "_", "_", "_", "_")
    + row("1", "I", "I", "PRON", "PRP", "_", "3", "nsubj", "_", "_")
    + row("2", "'m", "be", "AUX", "VBP", "_", "3", "cop", "_", "_")
    + row("2.1", "was", "be", "AUX", "VBD", "_", "_", "_", "3:cop", "_")
    + row("3", "home", "home", "NOUN", "NN", "_", "0", "root", "_", "_")
    + row("4", ".", ".", "PUNCT", ".", "_", "3", "punct", "_", "_")
    + "\n# sent_id = 2\n"
    + row("1", "Hi", "hi", "INTJ", "UH", "_", "0", "root", "_", "_")  # no blank line at the end
)


def test_conllu_reads_syntactic_words_only(tmp_path):
    path = write(tmp_path / "x.conllu", CONLLU)
    sentences = read_conllu(path)
    assert [s.words for s in sentences] == [["I", "'m", "home", "."], ["Hi"]]
    assert sentences[0].tags == ["PRON", "AUX", "NOUN", "PUNCT"]
    assert read_conllu(path, tag_column="xpos")[0].tags == ["PRP", "VBP", "NN", "."]
    assert read_conllu(path, allowed_tags=UPOS)[1].tags == ["INTJ"]


def word(word_id, form, upos, cells=10):
    return row(*[word_id, form, form, upos, upos, "_", "0", "root", "_", "_"][:cells])


@pytest.mark.parametrize("text, message", [
    (word("1", "I", "PRON", cells=9), r"line 1: expected 10 .* found 9"),
    (word("1", "I", "PRON") + word("3", "x", "X"), r"line 2: word id 3 follows word 1"),
    (word("1", "I", "PRON") + word("1", "x", "X"), r"line 2: word id 1 follows word 1 .*blank line"),
    (word("a", "I", "PRON"), r"line 1: word id 'a'"),
    (word("1", "_", "NOUN") + word("2", "_", "VERB"), r"lines 1-2: every word form is '_'"),
    (word("1", "I", "PRIN"), r"line 1: tag 'PRIN' is not in the label set"),
])
def test_conllu_errors_name_file_and_line(tmp_path, text, message):
    path = write(tmp_path / "bad.conllu", text)
    with pytest.raises(AdaptxError, match=message) as err:
        read_conllu(path, allowed_tags=UPOS)
    assert str(path) in str(err.value)


def test_conllu_rejects_unknown_tag_column_and_missing_file(tmp_path):
    with pytest.raises(AdaptxError, match="tag_column"):
        read_conllu(tmp_path / "x.conllu", tag_column="deprel")
    with pytest.raises(AdaptxError, match="missing data file"):
        read_conllu(tmp_path / "x.conllu")


# --- XTREME token<TAB>tag files -----------------------------------------------------------------

def test_xtreme_tsv_sentences(tmp_path):
    # CRLF line ends, runs of blank lines, a whitespace-only separator, no final blank line
    path = write(tmp_path / "dev-en.tsv", "From\tADP\r\nthe\tDET\r\n\r\n\r\n10 000\tNUM\n \nHi\tINTJ")
    sentences = read_xtreme_udpos(path, allowed_tags=UPOS)
    assert [(s.words, s.tags) for s in sentences] == [
        (["From", "the"], ["ADP", "DET"]), (["10 000"], ["NUM"]), (["Hi"], ["INTJ"])]


@pytest.mark.parametrize("text, message", [
    ("a\tO\nb\tO\tO\n", r"line 2: expected 'token<TAB>tag', found 3"),
    ("a\tO\nb\n", r"line 2: expected 'token<TAB>tag', found 1"),
    ("a\tO\n\tO\n", r"line 2: empty token or tag"),
    ("a\tB-MISC\n", r"line 1: tag 'B-MISC' is not in the label set"),
])
def test_xtreme_tsv_errors(tmp_path, text, message):
    path = write(tmp_path / "dev-xx.tsv", text)
    with pytest.raises(AdaptxError, match=message) as err:
        read_panx(path, allowed_tags=NER)
    assert str(path) in str(err.value)


def test_panx_language_prefix_is_stripped_only_in_raw_files(tmp_path):
    raw = write(tmp_path / "en-dev", "en:Anton\tB-PER\nen:bar:24\tO\n\nen:Berlin\tB-LOC\n")
    assert [s.words for s in read_panx(raw)] == [["Anton", "bar:24"], ["Berlin"]]
    # XTREME's processed files (shared/data/panx) have no prefix; 'bar:24' there is real text
    processed = write(tmp_path / "dev-en.tsv", "Anton\tB-PER\nbar:24\tO\n")
    assert read_panx(processed)[0].words == ["Anton", "bar:24"]
    assert read_panx(raw, strip_lang_prefix=False)[0].words == ["en:Anton", "en:bar:24"]
    with pytest.raises(AdaptxError, match=r"line 1: token 'Anton' has no 'lang:' prefix"):
        read_panx(processed, strip_lang_prefix=True)


# --- SQuAD-format JSON --------------------------------------------------------------------------

def squad_file(tmp_path, qas, context="The cat sat on the mat.", name="x.json"):
    data = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}
    return write(tmp_path / name, json.dumps(data, ensure_ascii=False))


def qa(qid, *answers, **extra):
    return {"id": qid, "question": "Who sat?", "answers": [{"text": t, "answer_start": s} for t, s in answers], **extra}


def test_squad_json_reads_examples(tmp_path):
    path = squad_file(tmp_path, [qa("q1", ("cat", 4), ("The cat", 0)), qa("q2", ("mat", 19))])
    examples = read_squad_json(path)
    assert [(e.id, e.answers, e.is_impossible) for e in examples] == [
        ("q1", [("cat", 4), ("The cat", 0)], False), ("q2", [("mat", 19)], False)]
    assert examples[0].context == "The cat sat on the mat." and examples[0].question == "Who sat?"


def test_squad2_unanswerable_questions_are_kept(tmp_path):
    path = squad_file(tmp_path, [qa("q1", is_impossible=True, plausible_answers=[{"text": "dog", "answer_start": 0}])])
    assert read_squad_json(path)[0].is_impossible and read_squad_json(path)[0].answers == []


@pytest.mark.parametrize("qas, context, message", [
    ([qa("q1", ("dog", 4))], "The cat sat on the mat.", r"question 'q1'.*'dog' does not match the context at 4: 'cat'"),
    ([qa("q1", ("mat", 40))], "The cat sat on the mat.", r"question 'q1'.*answer_start 40 is outside"),
    ([qa("q1", ("cat", 4))], "   ", r"question 'q1'.*empty context for question 'q1'"),
    ([qa("q1", ("cat", 4)), qa("q1", ("cat", 4))], "The cat sat.", r"question id 'q1' appears twice"),
    ([qa("q1", ("cat", 4), is_impossible=True)], "The cat sat.", r"is_impossible but has 1 answers"),
    ([qa("q1")], "The cat sat.", r"no answers and not marked is_impossible"),
    ([qa("q1", ("cat", 4), ("", 0))], "The cat sat.", r"an answer text is empty"),
])
def test_squad_json_errors_name_file_and_question(tmp_path, qas, context, message):
    path = squad_file(tmp_path, qas, context)
    with pytest.raises(AdaptxError, match=message) as err:
        read_squad_json(path)
    assert str(path) in str(err.value)


def test_unlabeled_questions_like_xtremes_tydiqa_dev(tmp_path):
    path = squad_file(tmp_path, [qa("arabic-1-1", ("", 0)), qa("arabic-1-2", ("", 0))])
    with pytest.raises(AdaptxError, match=r"2 of 2 questions have an empty answer text \(first: 'arabic-1-1'\)"):
        read_squad_json(path)
    examples = read_squad_json(path, require_answers=False)
    assert [(e.id, e.answers, e.is_impossible) for e in examples] == [
        ("arabic-1-1", [], False), ("arabic-1-2", [], False)]


def test_duplicate_ids_can_be_renamed_for_xtremes_tydiqa_train(tmp_path):
    qas = [qa("0", ("cat", 4)), qa("0", ("cat", 4)), qa("0#2", ("cat", 4)), qa("0", ("mat", 19))]
    path = squad_file(tmp_path, qas)
    assert [e.id for e in read_squad_json(path, rename_duplicate_ids=True)] == ["0", "0#2", "0#2#2", "0#3"]


def test_squad_json_format_errors(tmp_path):
    with pytest.raises(AdaptxError, match="not valid JSON"):
        read_squad_json(write(tmp_path / "a.json", "{"))
    with pytest.raises(AdaptxError, match="'data' list of articles"):
        read_squad_json(write(tmp_path / "b.json", '{"version": "1.1"}'))
    with pytest.raises(AdaptxError, match="lacks 'context'"):
        read_squad_json(write(tmp_path / "c.json", '{"data": [{"paragraphs": [{"qas": []}]}]}'))


# --- Tatoeba and BUCC ---------------------------------------------------------------------------

def test_tatoeba_pairs_and_length_mismatch(tmp_path):
    src = write(tmp_path / "tatoeba.deu-eng.deu", "Hallo.\nDanke.\n")
    eng = write(tmp_path / "tatoeba.deu-eng.eng", "Hello.\nThanks.\n")
    assert read_tatoeba(src, eng) == (["Hallo.", "Danke."], ["Hello.", "Thanks."])
    short = write(tmp_path / "short.eng", "Hello.\n")
    with pytest.raises(AdaptxError, match=r"tatoeba.deu-eng.deu has 2 lines, .*short.eng has 1"):
        read_tatoeba(src, short)
    crlf = write(tmp_path / "crlf.eng", "Hello.\r\nA stray \r stays.\r\n")  # only '\n' ends a line
    assert read_tatoeba(src, crlf)[1] == ["Hello.", "A stray \r stays."]
    with pytest.raises(AdaptxError, match=r"gap.eng, line 1: empty sentence"):
        read_tatoeba(src, write(tmp_path / "gap.eng", "\nThanks.\n"))


def test_bucc_files(tmp_path):
    zh = write(tmp_path / "zh-en.dev.zh", "zh-1\t你好。\nzh-2\t谢谢。\n")
    en = write(tmp_path / "zh-en.dev.en", "en-1\tThanks.\nen-2\tHello.\nen-3\tBye.\n")
    gold = write(tmp_path / "zh-en.dev.gold", "zh-1\ten-2\nzh-2\ten-1\n")
    data = read_bucc(zh, en, gold)
    assert data.src_ids == ["zh-1", "zh-2"] and data.src_sentences == ["你好。", "谢谢。"]
    assert data.tgt_ids == ["en-1", "en-2", "en-3"] and data.gold == {("zh-1", "en-2"), ("zh-2", "en-1")}
    assert read_bucc(zh, en).gold == set()
    bad_gold = write(tmp_path / "bad.gold", "zh-1\ten-2\nzh-2\ten-9\n")
    with pytest.raises(AdaptxError, match=r"bad.gold, line 2: target id 'en-9' is not in the target sentence file"):
        read_bucc(zh, en, bad_gold)
    with pytest.raises(AdaptxError, match=r"line 1: expected 'source_id<TAB>target_id'"):
        read_bucc_gold(write(tmp_path / "c.gold", "zh-1 en-2\n"))
    with pytest.raises(AdaptxError, match=r"dup.zh, line 2: sentence id 'zh-1' appears twice"):
        read_bucc(write(tmp_path / "dup.zh", "zh-1\ta\nzh-1\tb\n"), en)
    with pytest.raises(AdaptxError, match=r"notab.zh, line 1: expected 'id<TAB>sentence'"):
        read_bucc(write(tmp_path / "notab.zh", "zh-1 a\n"), en)


# --- hub schemas --------------------------------------------------------------------------------

def test_udpos_and_panx_from_hub_class_labels():
    udpos = datasets.Dataset.from_dict(
        {"tokens": [["I", "sat"], []], "pos_tags": [[10, 15], []]},
        features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                    "pos_tags": datasets.Sequence(datasets.ClassLabel(names=UPOS))}))
    assert [(s.words, s.tags) for s in udpos_from_hub(udpos)] == [(["I", "sat"], ["PRON", "VERB"])]  # empty row dropped
    panx = datasets.Dataset.from_dict(
        {"tokens": [["Anton", "lives", "in", "Berlin"]], "ner_tags": [[1, 0, 0, 5]], "langs": [["en"] * 4]},
        features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                    "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NER)),
                                    "langs": datasets.Sequence(datasets.Value("string"))}))
    assert panx_from_hub(panx)[0].tags == ["B-PER", "O", "O", "B-LOC"]
    with pytest.raises(AdaptxError, match=r"row 0: tag 7 is not a tag name or an index"):
        panx_from_hub([{"tokens": ["a"], "ner_tags": [7]}])  # plain rows: no ClassLabel names
    with pytest.raises(AdaptxError, match=r"row 0: 2 tokens for 1 tags"):
        panx_from_hub([{"tokens": ["a", "b"], "ner_tags": ["O"]}])


QA_FEATURES = {"id": datasets.Value("string"), "context": datasets.Value("string"),
               "question": datasets.Value("string"),
               "answers": datasets.Sequence({"text": datasets.Value("string"),
                                             "answer_start": datasets.Value("int32")})}


@pytest.mark.parametrize("with_title", [False, True])  # XQuAD.<lang> has no title; MLQA, tydiqa, SQuAD do
def test_qa_from_hub(with_title):
    rows = {"id": ["q1"], "context": ["The cat sat on the mat."], "question": ["Where?"],
            "answers": [{"text": ["the mat", "mat"], "answer_start": [15, 19]}]}
    features = dict(QA_FEATURES)
    if with_title:
        rows["title"], features["title"] = ["Cats"], datasets.Value("string")
    ds = datasets.Dataset.from_dict(rows, features=datasets.Features(features))
    examples, realigned = qa_examples_from_hub(ds, "google/xtreme (XQuAD.en, validation)")
    assert realigned == 0
    assert [(e.id, e.answers) for e in examples] == [("q1", [("the mat", 15), ("mat", 19)])]


def test_qa_from_hub_realigns_offsets_shifted_by_stripping():
    # the hub builder stripped '  ' from the context but kept answer_start: 'cat' is at 4, not 6
    rows = [{"id": "q1", "title": "", "context": "The cat sat.", "question": "Who?",
             "answers": {"text": ["cat"], "answer_start": [6]}}]
    examples, realigned = qa_examples_from_hub(rows)
    assert examples[0].answers == [("cat", 4)] and realigned == 1
    with pytest.raises(AdaptxError, match=r"row 0 \(id 'q1'\): answer text 'cat' does not match the context at 6"):
        qa_examples_from_hub(rows, realign=False)
    lost = [{**rows[0], "answers": {"text": ["dog"], "answer_start": [4]}}]
    with pytest.raises(AdaptxError, match="'dog' does not match"):
        qa_examples_from_hub(lost)
    unanswerable = [{**rows[0], "answers": {"text": [], "answer_start": []}}]  # rajpurkar/squad_v2
    assert qa_examples_from_hub(unanswerable)[0][0].is_impossible
    with pytest.raises(AdaptxError, match="expected columns id, question, context, answers"):
        qa_examples_from_hub([{"id": "q1", "context": "x"}])


def test_tatoeba_and_bucc_from_hub():
    tatoeba = datasets.Dataset.from_dict({"source_sentence": ["Hallo.\n", "Danke.\n"],
                                          "target_sentence": ["Hello.\n", "Thanks.\n"],
                                          "source_lang": ["deu", "deu"], "target_lang": ["eng", "eng"]})
    assert tatoeba_from_hub(tatoeba) == (["Hallo.", "Danke."], ["Hello.", "Thanks."])
    # bucc18.<lang>: the ids sit in source_lang / target_lang
    bucc = datasets.Dataset.from_dict({"source_sentence": ["Hallo.", "Danke."],
                                       "target_sentence": ["Hello.", "Thanks."],
                                       "source_lang": ["de-000000003", "de-000000004"],
                                       "target_lang": ["en-000007818", "en-000013032"]})
    data = bucc_from_hub(bucc)
    assert data.src_ids == ["de-000000003", "de-000000004"] and data.tgt_sentences == ["Hello.", "Thanks."]
    assert data.gold == {("de-000000003", "en-000007818"), ("de-000000004", "en-000013032")}
    with pytest.raises(AdaptxError, match="row 1: source id 'd1' has two different sentences"):
        bucc_from_hub([{"source_sentence": "a", "target_sentence": "x", "source_id": "d1", "target_id": "e1"},
                       {"source_sentence": "b", "target_sentence": "y", "source_id": "d1", "target_id": "e2"}])
    with pytest.raises(AdaptxError, match="row 0: expected non-empty"):
        bucc_from_hub([{"source_sentence": "", "target_sentence": "x", "source_lang": "d1", "target_lang": "e1"}])


# --- every relevant file in shared/data ---------------------------------------------------------

@pytest.mark.integration
def test_every_shared_data_file_reads(shared_data):
    d = shared_data
    conllu = {p.name: read_conllu(p, allowed_tags=UPOS) for p in sorted(d.glob("udpos/UD_*/*.conllu"))}
    assert len(conllu) == 18
    en_test = conllu["en_ewt-ud-test.conllu"]
    assert len(en_test) == 2077 and sum(len(s.words) for s in en_test) == 25094  # README's counts
    udpos = {p.stem: read_xtreme_udpos(p, allowed_tags=UPOS) for p in sorted(d.glob("udpos/xtreme_format/*.tsv"))}
    assert len(udpos) == 62 and len(udpos["test-en"]) == 5440 and len(udpos["train-en"]) == 21787
    panx = {p.stem: read_panx(p, allowed_tags=NER) for p in sorted(d.glob("panx/*.tsv"))}
    assert len(panx) == 48 and len(panx["train-en"]) == 20000 and len(panx["dev-en"]) == 10000
    assert not any(w.startswith("en:") for s in panx["train-en"] for w in s.words)  # no raw prefixes here

    for path in sorted(d.glob("xquad/xquad.*.json")):
        assert len(read_squad_json(path)) == 1190, path
    mlqa = {"en": 1148, "de": 512, "es": 500, "ar": 517, "hi": 507, "vi": 511, "zh": 504}
    for lang, n in mlqa.items():
        assert len(read_squad_json(d / f"mlqa/dev/dev-context-{lang}-question-{lang}.json")) == n
    squad2 = read_squad_json(d / "squad2/slice_dev-v2.0.json")
    assert len(squad2) == 706 and sum(e.is_impossible for e in squad2) == 320
    assert len(read_squad_json(d / "tydiqa/tydiqa.goldp.en.train.json", rename_duplicate_ids=True)) == 3696
    tydiqa = {"ar": 921, "bn": 113, "en": 440, "fi": 782, "id": 565, "ko": 276, "ru": 812, "sw": 499, "te": 669}
    for lang, n in tydiqa.items():
        path = d / f"tydiqa/tydiqa.goldp.{lang}.dev.json"
        with pytest.raises(AdaptxError, match=f"{n} of {n} questions have an empty answer text"):
            read_squad_json(path)  # XTREME's dev files carry no gold answers
        assert len(read_squad_json(path, require_answers=False)) == n

    small = {"jav": 205, "tel": 234, "tam": 307, "swh": 390, "tha": 548, "kaz": 575, "mal": 687, "kat": 746}
    eng_files = sorted(d.glob("tatoeba/tatoeba.*-eng.eng"))
    assert len(eng_files) == 36
    for eng in eng_files:
        lang = eng.name.split(".")[1].split("-")[0]
        src, tgt = read_tatoeba(d / f"tatoeba/tatoeba.{lang}-eng.{lang}", eng)
        assert len(src) == len(tgt) == small.get(lang, 1000), lang

    bucc = read_bucc(d / "bucc2018/zh-en.dev.zh", d / "bucc2018/zh-en.dev.en", d / "bucc2018/zh-en.dev.gold")
    assert (len(bucc.src_ids), len(bucc.tgt_ids), len(bucc.gold)) == (8624, 13589, 257)
    for lang, n in {"de": 1038, "fr": 929, "ru": 2374}.items():  # gold only: no sentence files for these
        assert len(read_bucc_gold(d / f"bucc2018/{lang}-en.dev.gold")) == n
