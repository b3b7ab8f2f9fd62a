"""Miniature XTREME data in the local layout (real formats, toy text): tagging, QA, retrieval."""

import json
import random

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "cats", "hat", "sea"]
POS = {"the": "DET", "a": "DET", "cat": "NOUN", "cats": "NOUN", "dog": "NOUN", "mat": "NOUN", "hat": "NOUN",
       "sea": "NOUN", "sat": "VERB", "on": "ADP"}


def _tagged(rng, n, ner=False):
    sentences = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 8))]
        if ner:
            tags, prev = [], "O"
            for w in words:  # dogs are people, cats are places: learnable from the word
                kind = {"dog": "PER", "cat": "LOC", "cats": "LOC"}.get(w)
                tags.append("O" if kind is None else ("I-" if prev.endswith(kind) else "B-") + kind)
                prev = tags[-1]
        else:
            tags = [POS[w] for w in words]
        sentences.append((words, tags))
    return sentences


def _write_tagged(path, sentences):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("".join(f"{w}\t{t}\n" for w, t in zip(ws, ts)) + "\n" for ws, ts in sentences))


def _squad(path, items, title="toy"):
    paragraphs = [{"context": c, "qas": [{"id": qid, "question": q, "answers": [{"text": a, "answer_start": c.index(a)}]}]}
                  for qid, q, c, a in items]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": title, "paragraphs": paragraphs}]}))


def _qa_items(rng, n, prefix):
    items = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 14))]
        animal = rng.choice(["dog", "cat"])
        context = " ".join(words[:3] + ["the", animal, "sat", "on", "the", "mat"] + words[3:]) + "."
        items.append((f"{prefix}{i}", f"who sat on the mat", context, animal))
    return items


def write_tiny_xtreme(root, seed=0):
    rng = random.Random(seed)
    ud = root / "udpos" / "xtreme_format"
    _write_tagged(ud / "train-en.tsv", _tagged(rng, 40))
    _write_tagged(ud / "dev-en.tsv", _tagged(rng, 12))
    for lang in ("en", "fr"):
        _write_tagged(ud / f"test-{lang}.tsv", _tagged(rng, 10))
    conllu = root / "udpos" / "UD_German-GSD" / "de_gsd-ud-test.conllu"
    conllu.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for s, (words, tags) in enumerate(_tagged(rng, 6)):
        lines.append(f"# sent_id = {s}")
        for i, (w, t) in enumerate(zip(words, tags), start=1):
            lines.append(f"{i}\t{w}\t{w}\t{t}\t_\t_\t0\t_\t_\t_")
        lines.append("")
    conllu.write_text("\n".join(lines) + "\n")
    panx = root / "panx"
    _write_tagged(panx / "train-en.tsv", _tagged(rng, 40, ner=True))
    for lang in ("en", "fr", "de"):
        _write_tagged(panx / f"dev-{lang}.tsv", _tagged(rng, 12, ner=True))
    _squad(root / "tydiqa" / "tydiqa.goldp.en.train.json", _qa_items(rng, 24, "tr"))
    for lang in ("en", "de"):
        _squad(root / "mlqa" / "dev" / f"dev-context-{lang}-question-{lang}.json", _qa_items(rng, 10, "ml"))
        _squad(root / "xquad" / f"xquad.{lang}.json", _qa_items(rng, 8, "xq"))
    tatoeba = root / "tatoeba"
    tatoeba.mkdir(parents=True, exist_ok=True)
    for iso in ("deu", "fra"):
        pairs = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))) for _ in range(12)]
        (tatoeba / f"tatoeba.{iso}-eng.{iso}").write_text("\n".join(pairs) + "\n")
        (tatoeba / f"tatoeba.{iso}-eng.eng").write_text("\n".join(pairs) + "\n")  # identical: a perfect encoder finds them
    bucc = root / "bucc2018"
    bucc.mkdir(parents=True, exist_ok=True)
    zh = [(f"zh-{i:06d}", " ".join(rng.choice(WORDS) for _ in range(5))) for i in range(16)]
    en = [(f"en-{i:06d}", s) for i, (_, s) in enumerate(zh[:10])] + [
        (f"en-{i:06d}", " ".join(rng.choice(WORDS) for _ in range(6))) for i in range(10, 20)]
    (bucc / "zh-en.dev.zh").write_text("".join(f"{i}\t{s}\n" for i, s in zh))
    (bucc / "zh-en.dev.en").write_text("".join(f"{i}\t{s}\n" for i, s in en))
    (bucc / "zh-en.dev.gold").write_text("".join(f"zh-{i:06d}\ten-{i:06d}\n" for i in range(10)))
    return root
