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
