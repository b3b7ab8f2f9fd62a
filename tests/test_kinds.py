"""Each task kind on a tiny tokenizer and model: encoding, windows, mapping back, decoding."""

import pytest
import torch
from transformers import AutoTokenizer

from adaptx.data import Example, SentencePair
from adaptx.kinds import get_kind
from adaptx.kinds.retrieval import resolve_layer
from adaptx.kinds.tagging import IGNORE, windows
from adaptx.readers import QAExample, TaggedSentence
from adaptx.tasks import get_task


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_windows_cover_everything_with_overlap():
    assert windows(5, 8) == [(0, 5)]
    spans = windows(20, 8)
    assert spans[0] == (0, 8) and spans[-1][1] == 20 and all(b - a <= 8 for a, b in spans)
    assert all(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))  # overlapping


def test_tagging_labels_the_first_sub_token_of_each_word(tokenizer):
    task = get_task("udpos")
    sentence = TaggedSentence(["the", "cats", "sat"], ["DET", "NOUN", "VERB"])  # "cats" = "▁cat" + "s"
    enc = get_kind("tagging").encode(task, [sentence], tokenizer, 32)
    (feature,) = enc.features
    tokens = tokenizer.convert_ids_to_tokens(feature.input_ids)
    assert tokens == ["<s>", "▁the", "▁cat", "s", "▁sat", "</s>"]
    labels = feature.data["labels"]
    assert labels == [IGNORE, task.labels.index("DET"), task.labels.index("NOUN"), IGNORE,
                      task.labels.index("VERB"), IGNORE]
    assert get_kind("tagging").loss_terms(feature) == 3


def test_a_bare_word_start_piece_passes_the_label_to_the_next_sub_token(embedded_dir):
    """XLM-R's tokenizer gives a Japanese word (and much punctuation) a lone "▁" first: the same
    token for every such word, so the label goes to the word's next sub-token."""
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_dir))
    task = get_task("udpos")
    sentence = TaggedSentence(["東京", "に", "行く", "。", "the"], ["PROPN", "ADP", "VERB", "PUNCT", "DET"])
    enc = get_kind("tagging").encode(task, [sentence], tokenizer, 32)
    (feature,) = enc.features
    tokens = tokenizer.convert_ids_to_tokens(feature.input_ids)
    labelled = {w: tokens[pos] for pos, w in feature.data["words"]}
    assert tokens.count("▁") >= 3  # the bare piece really occurs in this sentence
    assert "▁" not in labelled.values() and len(labelled) == 5
    assert labelled[4] == "▁the"  # a word whose first piece carries text keeps it
    for pos, w in feature.data["words"]:
        assert feature.data["labels"][pos] == task.labels.index(sentence.tags[w])
        if w < 4:
            assert tokens[pos - 1] == "▁"  # right after its bare piece


def test_long_sentences_are_windowed_and_every_word_scored_once(tokenizer):
    task = get_task("udpos")
    words = ["the", "cats", "sat", "on", "a", "mat"] * 6  # 42 tokens, windows of 8
    sentence = TaggedSentence(words, ["DET", "NOUN", "VERB", "ADP", "DET", "NOUN"] * 6)
    kind = get_kind("tagging")
    enc = kind.encode(task, [sentence], tokenizer, 10)
    assert len(enc.features) > 1 and all(len(f) <= 10 for f in enc.features)
    owners = [w for f in enc.features for _, w in f.data["words"]]
    assert sorted(owners) == list(range(len(words)))  # each word in exactly one window
    # decoding the gold labels back through the windows reproduces every tag
    results = [[(w, f.data["labels"][pos]) for pos, w in f.data["words"]] for f in enc.features]
    assert kind.decode(results, enc) == [sentence.tags]


def test_a_word_without_tokens_is_counted_and_gets_the_first_label(embedded_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_dir))  # its normaliser drops U+007F entirely
    task = get_task("panx")
    sentence = TaggedSentence(["the", "\x7f", "dog"], ["O", "O", "B-PER"])
    kind = get_kind("tagging")
    enc = kind.encode(task, [sentence], tokenizer, 32)
    assert enc.skipped == {"words without tokens (given the first label)": 1}
    results = [[(w, task.labels.index("B-PER")) for _, w in f.data["words"]] for f in enc.features]
    assert kind.decode(results, enc) == [["B-PER", "O", "B-PER"]]  # every word scored, the lost one as "O"


def test_tagging_rejects_a_tag_outside_the_label_set(tokenizer):
    from adaptx.errors import AdaptxError

    with pytest.raises(AdaptxError, match=r"tag 'NOUNISH' .* not in the label set"):
        get_kind("tagging").encode(get_task("udpos"), [TaggedSentence(["cat"], ["NOUNISH"])], tokenizer, 16)


def qa_example(context, answer, question="who sat on the mat"):
    return QAExample("q1", question, context, [(answer, context.index(answer))])


def test_qa_windows_map_answers_to_tokens_and_back_to_the_original_text(tokenizer):
    kind, task = get_kind("qa"), get_task("xquad")
    context = "the mat sat on a dog. " * 6 + "the Cat sat on the mat."
    example = qa_example(context, "Cat sat")
    enc = kind.encode(task, [example], tokenizer, 24)
    assert len(enc.features) > 1  # the context needed several windows
    inside = [f for f in enc.features if f.data["start"] != 0]
    assert inside, "the answer fits in at least one window"
    for f in inside:
        s, e = f.data["start"], f.data["end"]
        offsets = f.data["offsets"]
        assert context[offsets[s][0]:offsets[e][1]].strip() == "Cat sat"
    # windows without the whole answer point at the first token
    assert all(f.data["start"] == f.data["end"] == 0 for f in enc.features if f not in inside)
    # decoding logits that favour the gold span returns the original text, casing included
    results = []
    for f in enc.features:
        logits = torch.full((len(f), 2), -5.0)
        if f in inside:
            logits[f.data["start"], 0] = logits[f.data["end"], 1] = 5.0
        batch = {"input_ids": torch.tensor([f.input_ids])}
        results += kind.results(logits.unsqueeze(0), batch, [f])
    assert kind.decode(results, enc) == ["Cat sat"]
    assert kind.golds(enc) == [["Cat sat"]]


def test_qa_spans_longer_than_the_limit_are_not_predicted(tokenizer):
    from adaptx.kinds import qa

    kind, task = get_kind("qa"), get_task("xquad")
    context = " ".join(["the cat sat on the mat"] * 10)
    enc = kind.encode(task, [qa_example(context, "the cat")], tokenizer, 128)
    (f,) = enc.features
    logits = torch.full((1, len(f), 2), -5.0)
    context_positions = [p for p, o in enumerate(f.data["offsets"]) if o is not None]
    first, far = context_positions[0], context_positions[0] + qa.MAX_ANSWER_LENGTH + 5
    logits[0, first, 0], logits[0, far, 1] = 9.0, 9.0  # the best pair is too long
    logits[0, first + 1, 1] = 1.0
    (result,) = kind.results(logits, {}, [f])
    assert kind.decode([result], enc) == [context[f.data["offsets"][first][0]:f.data["offsets"][first + 1][1]].strip()]


def test_qa_long_questions_are_cut_and_counted(tokenizer):
    long_question = " ".join(["who sat"] * 60)
    enc = get_kind("qa").encode(get_task("xquad"), [qa_example("the cat sat on the mat.", "cat", long_question)],
                                tokenizer, 128)
    assert enc.skipped == {"questions cut to 64 tokens": 1}
    assert all(len(f) <= 128 for f in enc.features)


@pytest.mark.parametrize("window", [8, 16, 32])
def test_qa_short_windows_keep_room_for_context_and_stride(tokenizer, window):
    # a --smoke run cuts windows to 32 tokens: a 20-token question once left the tokenizer no room for
    # its stride (a Rust panic, not an error)
    question = "when was the theory of the quantum field first developed by the physicists of europe"
    context = "the theory was developed in the 1920s by several physicists. " * 4
    enc = get_kind("qa").encode(get_task("xquad"), [qa_example(context, "1920s", question)], tokenizer, window)
    assert enc.features and all(len(f) <= window for f in enc.features)
    cap = min(window // 2, window - tokenizer.num_special_tokens_to_add(pair=True) - 2)
    assert enc.skipped == {f"questions cut to {cap} tokens": 1}


def test_classification_is_one_feature_per_example(tokenizer):
    kind = get_kind("classification")
    enc = kind.encode(get_task("xnli"), [Example("the cat", "a dog", 2), Example("the mat", "sat", 0)], tokenizer, 16)
    assert [f.example for f in enc.features] == [0, 1] and kind.golds(enc) == [2, 0]
    assert kind.decode(kind.results(torch.tensor([[0.0, 1.0, 3.0], [2.0, 1.0, 0.0]]), {}, enc.features), enc) == [2, 0]


def test_retrieval_layer_is_xtremes_scaled_to_depth():
    assert resolve_layer("middle", 24) == 14 and resolve_layer("middle", 12) == 7 and resolve_layer(3, 12) == 3


def test_retrieval_finds_identical_sentences(tiny_model_dir, tokenizer):
    from adaptx.modeling import Setup, build_model
    from adaptx.models import load_encoder

    model = build_model(load_encoder(str(tiny_model_dir)), Setup("none", 0, kind="retrieval", base_fingerprint={}))
    sentences = ["the cat sat", "a dog on the mat", "the sea", "cats sat on a hat", "the mat"]
    kind = get_kind("retrieval")
    enc = kind.encode(get_task("tatoeba"), [SentencePair(s, s) for s in sentences], tokenizer, 16)
    scored, preds, golds = kind.evaluate(model, enc, tokenizer.pad_token_id)
    assert scored == golds == list(range(5)) and preds == [[i, i] for i in range(5)]
