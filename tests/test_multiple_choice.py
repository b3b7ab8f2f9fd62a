"""The multiple-choice kind: (context, choice) pairs flattened into one batch, one encoder pass per
batch, one score per choice, softmax cross-entropy across an example's choices, accuracy; and it
learns a toy task on the tiny model (so these tests can fail)."""

import random

import pytest
import torch
from transformers import AutoTokenizer

from adaptx.intermediate_readers import MultipleChoiceExample
from adaptx.kinds import get_kind
from adaptx.tasks import get_task
from tiny_intermediate import mc_item

KIND = get_kind("multiple_choice")


def examples(n, k=4, seed=0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        context, choices, label = mc_item(rng, k)
        out.append(MultipleChoiceExample(str(i), context, "which one" if i % 2 else "", tuple(choices), label))
    return out


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_every_choice_is_a_context_choice_pair_and_the_batch_flattens_them(tokenizer):
    task = get_task("hellaswag")
    items = examples(3)
    encoding = KIND.encode(task, items, tokenizer, 32)
    assert len(encoding.features) == 3 and all(len(f.data["choices"]) == 4 for f in encoding.features)
    second = tokenizer(items[1].context, f"{items[1].question} {items[1].choices[2]}")["input_ids"]
    assert encoding.features[1].data["choices"][2] == second  # the question goes before every choice
    assert len(encoding.features[0]) == max(len(c) for c in encoding.features[0].data["choices"])
    batch = KIND.collate(encoding.features, tokenizer.pad_token_id)
    width = max(len(c) for f in encoding.features for c in f.data["choices"])
    assert batch["input_ids"].shape == (3 * 4, width) and batch["num_choices"] == 4
    assert batch["labels"].tolist() == [e.label for e in items]
    assert batch["input_ids"][4 + 2, :len(second)].tolist() == second  # example 1, choice 2: row 1 * 4 + 2


def test_loss_is_softmax_cross_entropy_across_each_examples_choices():
    scores = torch.tensor([0.1, 2.0, -1.0, 0.3, 1.5, 0.0, 0.2, -0.4])  # two examples x four choices
    batch = {"labels": torch.tensor([1, 0]), "num_choices": 4}
    expected = torch.nn.functional.cross_entropy(scores.view(2, 4), batch["labels"], reduction="sum")
    assert torch.allclose(KIND.loss(scores, batch), expected)
    assert KIND.results(scores, batch, [None, None]) == [1, 0]


def test_a_wrong_number_of_choices_in_one_task_is_an_error(tokenizer):
    from adaptx.errors import AdaptxError

    items = examples(2) + [MultipleChoiceExample("x", "c", "", ("a", "b"), 0)]
    with pytest.raises(AdaptxError, match=r"examples have \[2, 4\] choices"):
        KIND.encode(get_task("hellaswag"), items, tokenizer, 32)


def test_the_encoder_runs_once_per_batch_over_all_choices_and_learns(tiny_model_dir_no_dropout, tokenizer):
    """No loop per choice: one encoder call sees batch x choices rows. And adapter + head learn a toy
    task (the right choice says 'yes') well beyond chance on the tiny model."""
    from adaptx.modeling import Setup, build_model
    from adaptx.models import load_encoder
    from adaptx.train import TrainJob, predict, train_model

    task = get_task("hellaswag")
    train, dev = (KIND.encode(task, examples(n, seed=s), tokenizer, 32) for n, s in ((64, 1), (40, 2)))
    torch.manual_seed(0)
    model = build_model(load_encoder(str(tiny_model_dir_no_dropout), "fp32"),
                        Setup("intermediate", 4, kind="multiple_choice", own_adapter="hellaswag", pooling="mean"))
    shapes = []
    model.encoder.register_forward_hook(lambda module, args, kwargs, out: shapes.append(kwargs["input_ids"].shape),
                                        with_kwargs=True)
    before = get_task("hellaswag")  # chance: 25%
    predict(model, dev, tokenizer.pad_token_id, batch_size=8)
    assert shapes and all(s[0] == 8 * 4 for s in shapes)  # 40 examples in 5 calls of 8 x 4 rows
    job = TrainJob(steps=40, lr=1e-2, batch_size=8, seed=0, eval_every=10, metric=before.metric)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        summary = train_model(model, train, dev, job, tokenizer.pad_token_id, Path(tmp) / "ckpt.safetensors")
    assert summary["best_dev_score"] >= 0.8, summary["history"]
