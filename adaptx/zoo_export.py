"""`adaptx zoo export`: a verified entry as folders plain `adapters` + `transformers` load, no adaptx needed.

A single-adapter entry (intermediate, `none`) becomes one folder holding the adapter and, beside it,
its prediction head in the library's own flex-head format (head_config.json + model_head.safetensors):
`model = AutoAdapterModel.from_pretrained(BASE); model.load_adapter(DIR, use_safetensors=True,
set_active=True)` loads both. A stack or fusion entry becomes DIR/<adapter>/ per adapter, DIR/fusion/
(`load_adapter_fusion(DIR/fusion, ...)`) and DIR/head/ (`load_head(DIR/head, ...)`). The
adapter_config.json files name the base by its hub id (the embedded base: intfloat/multilingual-e5-small)
instead of the folder it was loaded from on the training machine. README.md (the model card and the
loading code), setup.json and card.json go along. Files are written 0644 and folders 0755, whatever
the umask, so an export can be shared as it is.

adaptx's classification and multiple-choice heads (adaptx.kinds) are the library's two-layer
classification and multiple-choice heads with the same layer order (dropout, dense, tanh, dropout,
out_proj), and its QA span head is the library's one-layer question-answering head: their tensors
are renamed, not changed (LIBRARY_HEADS). Tagging heads are exported in adaptx's format. Mean pooling is
the one difference: the library's heads read the first token, so a mean-pooled head is exported under a
custom head type whose class (adaptx.exported_heads, copied in as adaptx_heads.py) is the library's head
over the masked mean; the README's loading code registers it, and then `model(**batch)` gives adaptx's
scores (zoo_export_readme.py writes that README).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import AdaptxError
from .zoo_card import CARD_FILE, Card
from .zoo_export_readme import HEADS_FILE, export_readme
from .zoo_modelcard import base_hub_id
from .zoo_resolve import require_entry

HEAD_CONFIG = "head_config.json"  # adapters.utils.HEAD_CONFIG_NAME
HEAD_WEIGHTS = "model_head.safetensors"  # adapters.utils.SAFE_HEAD_WEIGHTS_NAME


@dataclass(frozen=True)
class LibraryHead:
    """The library's counterpart of one adaptx kind's head."""

    head_type: str
    # the library's head is an nn.Sequential of [Dropout, Linear, Activation] * (layers - 1), then
    # Dropout, Linear; `renamed` maps each adaptx head tensor's layer to the index of the same layer
    layers: int
    renamed: dict
    sized: Callable[[list], dict]  # the head config's size fields, from the card's labels
    labelled: bool = False  # its outputs are the card's labels (classification), not choices or spans
    pooled: bool = True  # reads one vector per input (adaptx's pooling applies), not every token


LIBRARY_HEADS = {  # adaptx kind -> its head in the library's format; other kinds export without a head
    "classification": LibraryHead("classification", 2, {"dense": 1, "out_proj": 4},
                                  lambda labels: {"num_labels": len(labels), "use_pooler": False, "bias": True},
                                  labelled=True),
    "multiple_choice": LibraryHead("multiple_choice", 2, {"dense": 1, "out_proj": 4},
                                   lambda labels: {"num_choices": len(labels), "use_pooler": False}),
    "qa": LibraryHead("question_answering", 1, {"out": 1}, lambda labels: {"num_labels": 2}, pooled=False),
}
FILE_MODE, FOLDER_MODE = 0o644, 0o755


def _library_versions() -> tuple[str, dict]:
    """(adapters' version label, model_type -> flex-head model class name): the names its loaders check."""
    import adapters
    from adapters.models.auto.adapter_model import ADAPTER_MODEL_MAPPING_NAMES

    return f"adapters.{adapters.__version__}", dict(ADAPTER_MODEL_MAPPING_NAMES)


def _base_shape(entry: Path, card: Card) -> dict:
    """model_type and hidden_size of the base, from an adapter_config.json of the entry."""
    for rel in sorted(card.files):
        if rel.endswith("/adapter_config.json"):
            config = json.loads((entry / rel).read_text(encoding="utf-8"))
            if isinstance(config.get("model_type"), str) and isinstance(config.get("hidden_size"), int):
                return {"model_type": config["model_type"], "hidden_size": config["hidden_size"]}
    raise AdaptxError(f"{entry / CARD_FILE}: no adapter_config.json with model_type and hidden_size; the head "
                      "cannot be written in the adapters library's format without them")


def mean_pooled_type(spec: LibraryHead, card: Card) -> str | None:
    """The custom head type (adaptx.exported_heads) a mean-pooled head is exported under, or None where
    the library's own head type fits (first-token pooling, or a head that reads every token)."""
    from .exported_heads import MEAN_POOLED

    if not spec.pooled or card.head.pooling != "mean":
        return None
    return MEAN_POOLED[spec.head_type][0]


def write_library_head(entry: Path, card: Card, folder: Path, head_name: str) -> LibraryHead | None:
    """Write the entry's head as the library's flex head named `head_name` into `folder`; returns which
    head it wrote, or None (nothing written) for a kind whose head the library has no counterpart of."""
    from safetensors.torch import load_file, save_file

    setup = json.loads((entry / card.setup).read_text(encoding="utf-8"))
    kind = setup.get("kind", "classification")
    if kind not in LIBRARY_HEADS:
        return None
    spec = LIBRARY_HEADS[kind]
    version, classes = _library_versions()
    shape = _base_shape(entry, card)
    model_class = classes.get(shape["model_type"])
    if model_class is None:
        raise AdaptxError(f"{entry}: the adapters library has no flex-head model for model_type "
                          f"{shape['model_type']!r}; the head cannot be exported in its format")
    state = load_file(str(entry / card.head.file))
    tensors = {}
    for key, tensor in state.items():
        layer, _, param = key.partition(".")
        if layer not in spec.renamed or param not in ("weight", "bias"):
            raise AdaptxError(f"{entry / card.head.file}: tensor {key!r}; expected the {kind} head's "
                              f"{' and '.join(f'{n}.*' for n in spec.renamed)}")
        tensors[f"heads.{head_name}.{spec.renamed[layer]}.{param}"] = tensor.contiguous()
    labels = list(card.head.labels)
    label2id = {str(label): i for i, label in enumerate(labels)} if spec.labelled else None
    head = {"head_type": mean_pooled_type(spec, card) or spec.head_type, "layers": spec.layers,
            "activation_function": "tanh", "label2id": label2id, "dropout_prob": card.head.dropout,
            **spec.sized(labels)}
    config = {"config": head, "hidden_size": shape["hidden_size"], "label2id": label2id, "model_class": model_class,
              "model_name": base_hub_id(card) or card.base.id, "model_type": shape["model_type"],
              "name": head_name, "version": version,
              # ignored by the library: how adaptx pools before this head (mean: adaptx_heads.py's head type)
              "adaptx": {"pooling": card.head.pooling, "entry": card.name}}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / HEAD_WEIGHTS))
    (folder / HEAD_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return spec


def _name_the_base(path: Path, hub_id: str | None) -> None:
    """adapter_config.json's model_name: the base's hub id, not the training machine's folder."""
    if hub_id is None:
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    config["model_name"] = hub_id
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _readable_by_others(folder: Path) -> None:
    os.chmod(folder, FOLDER_MODE)
    for path in folder.rglob("*"):
        os.chmod(path, FOLDER_MODE if path.is_dir() else FILE_MODE)


def export_entry(zoo: Path, name: str, out_dir: str | Path) -> Path:
    """Write a verified entry as plain AdapterHub folders (the module docstring says which); the folder is
    written aside and renamed into place, so a failed export leaves nothing."""
    entry, card = require_entry(zoo, name)
    zoo = entry.parent
    out = Path(out_dir)
    inside = out.resolve()  # through any link: where the files would really land
    if inside == zoo.resolve() or zoo.resolve() in inside.parents:
        own = inside == entry.resolve() or entry.resolve() in inside.parents
        where = f"the entry itself ({entry})" if own else f"the zoo folder {zoo}"
        raise AdaptxError(f"export folder {out} is inside {where}; an export is a copy for use outside the zoo "
                          f"(extra files in an entry break its verification): choose a folder outside {zoo}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AdaptxError(f"export folder {out} exists and is not empty; choose a new or empty folder")
    single = card.single
    hub_id = base_hub_id(card)
    tmp = out.parent / f".{out.name}.export-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        head_name = card.adapter.name if single else card.name
        head = write_library_head(entry, card, tmp if single else tmp / "head", head_name)
        for rel in [*card.files, CARD_FILE]:
            if rel == card.head.file and head:
                continue  # written above in the library's format
            target = rel
            if single and rel.startswith(card.adapter.folder + "/"):
                target = rel.split("/", 1)[1]
            elif rel.startswith("adapter-"):
                target = rel[len("adapter-"):]
            (tmp / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry / rel, tmp / target)
            if Path(target).name == "adapter_config.json":
                _name_the_base(tmp / target, hub_id)
        mean_head = head is not None and mean_pooled_type(head, card) is not None
        if mean_head:  # the head's class, for the library's register_custom_head
            shutil.copyfile(Path(__file__).with_name("exported_heads.py"), tmp / HEADS_FILE)
        (tmp / "README.md").write_text(export_readme(card, single, head, mean_head), encoding="utf-8")
        _readable_by_others(tmp)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except OSError as exc:
        raise AdaptxError(f"cannot write export folder {out}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
