"""The card a finished stage is published with (adaptx.zoo_publish): what the entry is, the base it was
trained on, its data (origins without the training machine's folders, sha256s, row samples), budget,
curve, hardware, English dev score and data licences, read from the stage's manifest, metrics and setup
and its run's config. The card's schema and checks: adaptx.zoo_card.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .convergence import of_training
from .errors import AdaptxError
from .fileio import read_json
from .fingerprint import base_fingerprint
from .run_folder import SETUP_FILE, StageFolder
from .strategies import TARGET_STRATEGIES, get_strategy
from .zoo_card import ENTRY_FORMAT, KINDS

LICENSE_SOURCE = "adaptx.tasks (each Task's license; informational; check the upstream terms before redistributing)"


def _weights_of(files: dict[str, Path], folder: str) -> str:
    found = [rel for rel in files if rel.startswith(folder + "/") and rel.endswith(".safetensors")]
    if len(found) != 1:
        raise AdaptxError(f"{folder}: expected one safetensors weight file, found {found or 'none'}")
    return found[0]


def _run_config(stage_dir: Path) -> dict:
    """The run's config.yaml (what the user called the base, the rows' sampling seed), or {}.
    A search's run folder has none: its first trial's stands in (adaptx.run_folder)."""
    import yaml

    try:
        return StageFolder(stage_dir).run.read_config()
    except (OSError, ValueError, yaml.YAMLError):
        return {}


def _portable_origin(origin: str, task_names) -> str:
    """A local data origin with the data folder taken off its paths ('../shared/data/qqp/x.json' ->
    'qqp/x.json': relative to --data-dir, in adaptx's local layout): a card carries no folder of the
    machine that trained it. Hub origins and paths outside the tasks' layout stay as they are."""
    from .tasks import get_task

    for name in task_names:
        try:
            task = get_task(name)
        except AdaptxError:
            continue
        for split in ("train", "dev"):
            spec = task.spec("local", split, "en")
            for part in (spec if isinstance(spec, tuple) else (spec,)) if spec else ():
                for rel in (part.path.format(lang="en"), *part.extra):
                    at = origin.find("/" + rel)
                    if at > 0:  # the data folder is what precedes it, back to the start or a separator
                        found = [origin.rfind(sep, 0, at) + len(sep) for sep in (" + ", ": ", " | ")
                                 if origin.rfind(sep, 0, at) >= 0]
                        start = max(found, default=0)
                        return origin.replace(origin[start:at + 1], "")
    return origin


def _base_card(stage_dir: Path, identity: dict) -> dict:
    from .models import BASE_FAMILIES

    name = _run_config(stage_dir).get("base_model")  # what the user called the base
    key = (identity.get("model_type"), identity.get("hidden_size"), identity.get("num_hidden_layers"),
           identity.get("vocab_size"))
    return {"id": identity.get("hub_id") or name or "unknown", "revision": identity.get("revision"),
            "family": BASE_FAMILIES.get(key, (None,))[0], "fingerprint": base_fingerprint(identity),
            "identity": identity}


def _own_adapter(stage_dir: Path, setup: dict, files: dict[str, str]) -> dict | None:
    """The card's `adapter`: the adapter the stage trained (a fusion stage may have none)."""
    if not setup.get("own_adapter"):
        return None
    folder = f"adapter-{setup['own_adapter']}"
    weights = _weights_of(files, folder)
    config = read_json(StageFolder(stage_dir).model_dir / folder / "adapter_config.json",
                       "the stage is incomplete: run it again", dict)
    return {"name": setup["own_adapter"], "folder": folder, "weights": weights, "sha256": files[weights],
            "method": setup["adapter_config"], "reduction_factor": setup["reduction_factor"],
            "config": config.get("config", config)}


def _fusion(setup: dict, metrics: dict, files: dict[str, str]) -> dict | None:
    if not get_strategy(setup["strategy"]).fusion:
        return None
    return {"folder": "fusion", "adapters": setup["fusion"], "settings": setup["fusion_config"],
            "temperature": setup.get("fusion_temperature"),
            "value_distance_from_identity": metrics.get("fusion", {}).get("value_distance_from_identity"),
            "weights_sha256": {k: v for k, v in files.items() if k.startswith("fusion/")}}


def _training(stage_dir: Path, recipe: dict, metrics: dict, origin_tasks: list[str]) -> dict:
    """The card's `training`: its data (origins without this machine's data folder, sha256s, row samples),
    budget, curve, time, hardware and whether English dev had stopped improving."""
    train, data, mixture = metrics["train"], recipe["data"], metrics.get("mixture")
    run_data = _run_config(stage_dir).get("data") or {}
    sample_seed, max_dev = run_data.get("sample_seed"), run_data.get("max_dev_examples")
    return {"data": {"train": _portable_origin(metrics["data"]["train"], origin_tasks),
                     "train_sha256": data["train"]["content"], "train_rows": data["train"]["n"],
                     "train_ids_digest": data["train"].get("rows"),
                     "dev": _portable_origin(metrics["data"]["dev"], origin_tasks),
                     "dev_sha256": data["dev"]["content"], "dev_rows": data["dev"]["n"],
                     "dev_ids_digest": data["dev"].get("rows"),
                     "sample_seed": sample_seed if isinstance(sample_seed, int) else None,
                     # a mixture samples its dev rows per task: rescoring needs the cap, not the total
                     "max_dev_examples": max_dev if isinstance(max_dev, int) else None},
            **({"mixture": {"tasks": list(mixture["tasks"]), "cap": mixture.get("cap")}} if mixture else {}),
            "steps": recipe["train"]["steps"], "batch_size": recipe["train"]["batch_size"],
            "lr": recipe["train"]["lr"], "head_lr": recipe["train"].get("head_lr"),
            "dtype": recipe.get("dtype"), "max_seq_length": recipe.get("max_seq_length"),
            "trainable_parameters": metrics.get("trainable_parameters"),
            # how it got there: every English-dev evaluation, the time, and where it ran
            "dev_curve": [[h["step"], h["dev_score"]] for h in train.get("history", [])],
            "train_seconds": train.get("train_seconds"),
            "hardware": {k: v for k, v in (metrics.get("hardware") or {}).items()
                         if k in ("device", "device_type", "dtype", "processes", "cpu_flags", "torch", "kernels")},
            # whether English dev had stopped improving (adaptx.convergence; older stages: from the curve)
            **of_training(train), "steps_trained": train.get("steps")}


def _en_dev(train: dict, dev_rows: int) -> dict:
    """The card's English dev score: the best step's, with its per-row predictions (a rescore on other
    kernels counts agreeing rows) and the trivial baseline where recorded."""
    return {"metric": train["metric"], "value": train["best_dev_score"], "step": train["best_step"], "rows": dev_rows,
            **({"predictions": train["best_dev_predictions"]} if train.get("best_dev_predictions") is not None else {}),
            **({"versus_trivial": train["versus_trivial"]} if train.get("versus_trivial") else {})}


def make_card(name: str, version: str, stage_dir: Path, manifest: dict, metrics: dict, setup: dict,
              members: dict, files: dict[str, str]) -> dict:
    """The card (as written to card.json) of a finished stage published as `name`; members: adapter name ->
    (folder, source, task) of the frozen adapters under it; files: entry path -> sha256."""
    from .tasks import data_license, get_task
    from .version import __version__

    recipe, train, mixture = manifest["recipe"], metrics["train"], metrics.get("mixture")
    if mixture:  # a multi-task adapter: no single task's labels; its tasks' data licenses
        from .mixture import mixture_task

        task = mixture_task(metrics["task"], mixture["tasks"], mixture.get("cap"), mixture.get("mlm"))
    else:
        task = get_task(metrics["task"])
    strategy = setup["strategy"]
    adapter = _own_adapter(stage_dir, setup, files)
    member_cards = []
    for member, (_, source, member_task) in members.items():
        weights = _weights_of(files, f"adapter-{member}")
        member_cards.append({"name": member, "task": member_task, "folder": f"adapter-{member}", "weights": weights,
                             "sha256": files[weights], "source": source})
    fusion = _fusion(setup, metrics, files)
    origin_tasks = list(mixture["tasks"]) if mixture else [task.name]
    licenses = {t: data_license(t) for t in [*origin_tasks, *(m["task"] for m in member_cards)]}
    return {
        "format": ENTRY_FORMAT, "name": name, "version": str(version), "task": task.name, "kind": KINDS[strategy],
        "strategy": strategy, "languages": list(task.languages) if strategy in TARGET_STRATEGIES else ["en"],  # intermediate: English
        "base": _base_card(stage_dir, recipe["base"]), "adapter": adapter,
        "head": {"file": "head.safetensors", "labels": metrics.get("labels") or list(task.labels), "pooling": setup["pooling"],
                 "dropout": setup["dropout"]},
        "members": member_cards, "fusion": fusion, "setup": SETUP_FILE,
        "training": _training(stage_dir, recipe, metrics, origin_tasks),
        "seed": recipe["train"]["seed"],
        "metrics": {"en_dev": _en_dev(train, recipe["data"]["dev"]["n"])},
        "license": {"data": licenses, "source": LICENSE_SOURCE},
        "adaptx_version": __version__, "versions": manifest.get("versions", {}),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {"stage": manifest["stage"], "config_hash": manifest["config_hash"]},
        "files": files,
    }
