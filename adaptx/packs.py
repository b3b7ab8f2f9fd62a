"""Data packs shipped inside adaptx, named in a config as `data.dir: builtin:NAME`.

A pack is a folder in the local layout (the local loader reads it unchanged) holding exactly
the rows one config samples from the full data, in their original order: sampling the pack
with the same settings takes every row, so a run trains and evaluates on the same examples
as with the full folder. `builtin:quickstart` (adaptx/packs/quickstart/, written by
scripts/make_quickstart_pack.py) lets `adaptx run configs/quickstart.yaml` run offline with
no data folder. Its manifest records what it was made for; a run that would sample other rows
(other row limits, sample seed, tasks or languages) is refused instead of silently training
on a subset.
"""

from __future__ import annotations

from pathlib import Path

from .data_manifest import MANIFEST, read_manifest, verify_folder
from .errors import AdaptxError

PREFIX = "builtin:"
PACKS_DIR = Path(__file__).resolve().parent / "packs"
# the data settings that decide which rows a run samples
SAMPLING_KEYS = ("max_train_examples", "max_dev_examples", "max_eval_examples", "eval_split", "sample_seed")

NO_DATA_DIR = ("data.source is local but no data folder is set: pass --data-dir DIR or set data.dir to a folder in "
               "the local layout (make one with `adaptx data pull TASK... --out DIR`); only configs/quickstart.yaml "
               "has its rows built in (data.dir: builtin:quickstart)")


def builtin_packs() -> list[str]:
    return sorted(p.parent.name for p in PACKS_DIR.glob(f"*/{MANIFEST}")) if PACKS_DIR.is_dir() else []


def resolve_data_dir(value, cfg=None) -> Path | None:
    """The local data folder a run reads: `builtin:NAME` is the pack shipped with adaptx (checked
    against its manifest, and against `cfg` when given); anything else is a path; None stays None."""
    if value is None:
        return None
    text = str(value)
    if not text.startswith(PREFIX):
        return Path(value)
    name = text[len(PREFIX):]
    folder = PACKS_DIR / name
    if name not in builtin_packs():
        raise AdaptxError(f"data.dir: {text!r}: adaptx has no built-in data pack {name!r}; built-in packs: "
                          f"{', '.join(PREFIX + p for p in builtin_packs()) or 'none'} (or give a data folder path)")
    check = verify_folder(folder)
    if not check.ok:
        raise AdaptxError(f"built-in data pack {folder} does not match its {MANIFEST} "
                          f"({'; '.join(check.problems()[:3])}); reinstall adaptx")
    if cfg is not None and cfg.data.source == "local":
        _check_fits(folder, name, cfg)
    return folder


def _check_fits(folder: Path, name: str, cfg) -> None:
    """Refuse a run that would sample rows the pack does not hold (it would silently take
    fewer or other rows than the same config on the full data)."""
    from .plan import plan_stages
    from .tasks import get_task

    made = _made_for(folder)
    asks = [f"data.{k}: {getattr(cfg.data, k)!r} (the pack: {made['data'][k]!r})"
            for k in SAMPLING_KEYS if getattr(cfg.data, k) != made["data"][k]]
    other = [t for t in cfg.targets if t not in made["targets"]]
    if other:
        asks.append(f"target_task {other} (the pack: {made['targets']})")
    wanted = [lang for t in cfg.targets if t in made["targets"] for lang in get_task(t).languages
              if cfg.languages is None or lang in cfg.languages]
    missing = [lang for lang in dict.fromkeys(wanted) if lang not in made["languages"]]
    if missing:
        asks.append(f"languages {missing} (the pack has {made['languages']})")
    # the intermediate tasks this run trains (strategies without one train none)
    trained = {s.task for s in plan_stages(cfg) if s.kind.startswith("intermediate")}
    missing = sorted(trained - set(made["intermediate_tasks"]))
    if missing:
        asks.append(f"intermediate_tasks {missing} (the pack has {made['intermediate_tasks']})")
    if asks:
        raise AdaptxError(f"data.dir: {PREFIX}{name} holds only the rows that {made['config']} samples, but this run "
                          f"sets {'; '.join(asks)}. Give a full data folder with --data-dir DIR (for example one "
                          "made by `adaptx data pull TASK... --out DIR`), or keep the pack's settings")


def _made_for(folder: Path) -> dict:
    """The pack manifest's record of the config it was made for, checked field by field (a
    damaged pack is a message, not a KeyError)."""
    made = read_manifest(folder).get("made_for")
    fields = {"config": str, "data": dict, "targets": list, "languages": list, "intermediate_tasks": list}
    bad = [k for k, kind in fields.items() if not isinstance(made, dict) or not isinstance(made.get(k), kind)]
    if not bad and any(k not in made["data"] for k in SAMPLING_KEYS):
        bad = [f"data.{k}" for k in SAMPLING_KEYS if k not in made["data"]]
    if bad:
        fields_text = ", ".join(f"made_for.{k}" for k in bad)
        raise AdaptxError(f"built-in data pack {folder}: {MANIFEST} lacks or mistypes {fields_text} (what the pack "
                          "was made for); reinstall adaptx")
    return made
