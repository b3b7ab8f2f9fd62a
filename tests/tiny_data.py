"""Writes a miniature data folder in the layout of shared/data (random-ish text, real formats)."""

import json
import random

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "hat", "the", "sea"]
NLI = ["entailment", "neutral", "contradiction"]


def sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))


def write_tiny_data(root, languages=("en", "de", "sw"), n=24, seed=0):
    rng = random.Random(seed)
    for task, labels in (("mnli", NLI), ("qqp", ["0", "1"])):
        (root / task).mkdir(parents=True, exist_ok=True)
        for split in ("train", "dev"):
            records = {str(i): {"text_a": sentence(rng), "text_b": sentence(rng), "label": rng.choice(labels)}
                       for i in range(n)}
            (root / task / f"ppft_{split}_subset.json").write_text(json.dumps(records))
    (root / "sst2").mkdir(exist_ok=True)
    for split in ("train", "dev"):
        rows = ["sentence\tlabel"] + [f"{sentence(rng)} \t{rng.randint(0, 1)}" for _ in range(n)]
        (root / "sst2" / f"alps_{split}.tsv").write_text("\n".join(rows) + "\n")
    (root / "xnli").mkdir(exist_ok=True)
    for lang in languages:
        for split in ("dev", "test"):
            rows = [f"{sentence(rng)}\t{sentence(rng)}\t{rng.choice(NLI)}" for _ in range(n)]
            (root / "xnli" / f"{split}-{lang}.tsv").write_text("\n".join(rows) + "\n")
    return root


def write_tiny_pawsx(root, languages=("en", "de", "es", "zh"), n=24, seed=1):
    """PAWS-X in the local layout: PAWS-Wiki train (CRLF, id column), row-aligned dev files,
    labeled test for en (XTREME format) and de/zh (header with id), none for the others."""
    rng = random.Random(seed)
    (root / "paws_en").mkdir(parents=True, exist_ok=True)
    rows = [f"{i}\t{sentence(rng)}\t{sentence(rng)}\t{rng.randint(0, 1)}" for i in range(n)]
    (root / "paws_en" / "paws_wiki_final_test.tsv").write_bytes(("\r\n".join(rows) + "\r\n").encode())
    (root / "pawsx" / "labeled").mkdir(parents=True, exist_ok=True)
    dev_labels = [rng.randint(0, 1) for _ in range(n)]
    for lang in languages:
        rows = [f"{lang} {sentence(rng)}\t{sentence(rng)}\t{label}" for label in dev_labels]
        (root / "pawsx" / f"dev-{lang}.tsv").write_text("\n".join(rows) + "\n")
    test_labels = [rng.randint(0, 1) for _ in range(n)]
    (root / "pawsx" / "test-en.tsv").write_text(
        "\n".join(f"{sentence(rng)}\t{sentence(rng)}\t{label}" for label in test_labels) + "\n")
    for lang in ("de", "zh"):
        rows = ["id\tsentence1\tsentence2\tlabel"] + [f"{i}\t{sentence(rng)}\t{sentence(rng)}\t{label}"
                                                       for i, label in enumerate(test_labels)]
        (root / "pawsx" / "labeled" / f"test-{lang}.hf.tsv").write_text("\n".join(rows) + "\n")
    return root
