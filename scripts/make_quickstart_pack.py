"""Write the built-in quickstart data pack (adaptx/packs/quickstart/) from the real data slices.

The pack holds exactly the rows `adaptx run configs/quickstart.yaml` uses (its English
training and dev samples, and its zero-shot evaluation sample in every language), found
with adaptx's own sampling (`Experiment.row_ids`), copied byte for byte from the source
lines (TSV) or records (JSON, whose files are checked to be in the canonical form that
makes a record's bytes the same in both files), in their original order. Sampling the pack
with the same settings then takes every row, in the same order: the same training batches
and the same evaluation. The script checks that by reading the pack back through adaptx.

Run (from the repository root): python scripts/make_quickstart_pack.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
from pathlib import Path

from adaptx.config import load_config
from adaptx.data import read_local
from adaptx.data_manifest import file_entry, write_manifest
from adaptx.errors import AdaptxError
from adaptx.fingerprint import sha256_file
from adaptx.packs import PACKS_DIR, SAMPLING_KEYS
from adaptx.pipeline import Experiment, plan_stages

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "quickstart.yaml"
NAME = "quickstart"

NOTICE_HEAD = """\
adaptx built-in data pack "{name}"

The rows that {config} samples, copied byte for byte from the project's data slices
(shared/data; see its README.md and MANIFEST.tsv) by scripts/make_quickstart_pack.py.
adaptx-manifest.json lists, for every file, its source file, the source's sha256 and the
row ids taken from it.

These data are NOT under adaptx's Apache-2.0 license: each dataset keeps its own terms.
"""

# one paragraph per source folder of the layout; a pack with another folder needs one here
DATASETS = {
    "xnli": """\
- XNLI (xnli/): Conneau et al. (2018), https://github.com/facebookresearch/XNLI, licensed
  CC BY-NC 4.0 (attribution, NON-COMMERCIAL use only). Text in the XTREME format
  (google-research/xtreme's download scripts), copied from GautamGupta17/MESH (MIT license
  for that repository's code; it does not restate XNLI's license). The test files' labels
  are DERIVED: the XTREME test files carry none, so the label column of the German labeled
  XNLI test (LSX-UniWue/SuperGLEBer, data/XGlue/NLI/test.txt; license not stated there) was
  joined by row index (XNLI's test sets are row-aligned translations).""",
    "mnli": """\
- MultiNLI (mnli/): Williams et al. (2018), distributed with GLUE (https://gluebenchmark.com);
  a random 8999-row training subset from ZhengxiangShi/PowerfulPromptFT ('glue_pretrain'; MIT
  license for that repository, which does not state MultiNLI's terms: see
  https://cims.nyu.edu/~sbowman/multinli/).""",
    "qqp": """\
- QQP (qqp/): Quora Question Pairs, distributed with GLUE (https://gluebenchmark.com); random
  subsets from ZhengxiangShi/PowerfulPromptFT ('glue_pretrain'; MIT license for that repository,
  which does not state QQP's terms: Quora's terms for its question-pairs release apply).""",
}


def used_rows(exp: Experiment) -> dict[str, tuple]:
    """Every local file the run reads -> (task, split, language, row ids), as Experiment.prepare reads them."""
    wanted = []
    for stage in plan_stages(exp.cfg):
        if stage.trains:
            task = exp.trained_task(stage)
            wanted += [(task, "train", "en"), (task, "dev", "en")]
    for target in exp.targets:
        wanted += [(target.name, f"eval-{split}", lang) for lang, split in exp.eval_splits[target.name].items()
                   if split is not None]
    uses: dict[str, tuple] = {}
    for task, split, lang in dict.fromkeys(wanted):
        spec = exp.task(task).spec("local", split, lang)
        if isinstance(spec, tuple) or getattr(spec, "extra", ()) or getattr(spec, "part", None):
            raise AdaptxError(f"{task} ({split}) reads several files or part of one: a pack cannot hold its rows")
        rel = spec.path.format(lang=lang)
        ids = exp.row_ids(task, split, lang)
        if rel in uses and uses[rel][3] != ids:
            raise AdaptxError(f"{rel} is read twice with different rows ({uses[rel][:3]} and {(task, split, lang)}): "
                              "one pack file cannot hold both samples")
        uses.setdefault(rel, (task, split, lang, ids))
    return uses


def copy_rows(source: Path, dest: Path, spec, ids: list[int]) -> None:
    """Write the source's rows `ids` (example indices, as the loader counts them) to dest, byte for byte."""
    raw = source.read_bytes()
    if spec.format == "json_records":
        text = raw.decode("utf-8")
        records = json.loads(text)
        if not isinstance(records, dict) or json.dumps(records, indent=4, ensure_ascii=True) != text:
            raise AdaptxError(f"{source}: not an object of records in json.dumps(indent=4) form; its records "
                              "could not be copied byte for byte")
        keys = list(records)
        dest.write_text(json.dumps({keys[i]: records[keys[i]] for i in ids}, indent=4, ensure_ascii=True),
                        encoding="utf-8")
        return
    lines = [line for line in raw.splitlines(keepends=True) if line.rstrip(b"\r\n")]  # the loader skips blank lines
    head = [lines.pop(0)] if spec.format == "tsv_header" else []
    chosen = [lines[i] for i in ids]
    if any(not line.endswith(b"\n") for line in chosen[:-1]):
        raise AdaptxError(f"{source}: a row without a line break would be glued to the next one")
    dest.write_bytes(b"".join(head + chosen))


def manifest_rows(data_dir: Path) -> dict[str, list[str]]:
    path = data_dir / "MANIFEST.tsv"
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = rows[0]
    return {row[header.index("file")]: dict(zip(header, row)) for row in rows[1:] if row}


def notice(uses: dict, data_dir: Path, config_name: str) -> str:
    sources = manifest_rows(data_dir)
    folders = sorted({rel.split("/")[0] for rel in uses})
    unknown = [f for f in folders if f not in DATASETS]
    if unknown:
        raise AdaptxError(f"no NOTICE paragraph for {unknown}: add one to DATASETS in {Path(__file__).name}")
    lines = [NOTICE_HEAD.format(name=NAME, config=config_name)]
    lines += [DATASETS[f] for f in folders]
    lines.append("\nFiles, with their sources as shared/data/MANIFEST.tsv records them "
                 "(repository @ commit: path; license as stated):\n")
    for rel in sorted(uses):
        row = sources.get(rel)
        if row is None:
            raise AdaptxError(f"{data_dir / 'MANIFEST.tsv'} has no row for {rel}")
        lines.append(f"- {rel}: {row['repo']} @ {row['commit']}: {row['path_in_repo']}\n  license: {row['license']}")
    return "\n".join(lines) + "\n"


def build_pack(data_dir: Path, out: Path, config: Path = CONFIG, overrides: list[str] | None = None) -> Path:
    """Write the pack for `config` into `out` (replaced whole). `overrides` may change settings
    that do not decide rows (the tests swap in a tiny base model: rows never depend on it)."""
    data_dir, out = Path(data_dir), Path(out)
    cfg = load_config(config, overrides)
    config_name = config.relative_to(ROOT).as_posix() if config.is_relative_to(ROOT) else config.name
    with tempfile.TemporaryDirectory() as unused_run:
        source = Experiment(cfg, Path(unused_run), data_dir)
        uses = used_rows(source)
        staging = out.with_name(f".{out.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        files = {}
        for rel, (task, split, lang, ids) in sorted(uses.items()):
            spec = source.task(task).spec("local", split, lang)
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            copy_rows(data_dir / rel, staging / rel, spec, ids)
            src = source.split(task, split, lang)
            read_back = read_local(source.task(task), spec, staging / rel, staging)[0]
            if read_back != [src.examples[i] for i in ids]:
                raise AdaptxError(f"{rel}: the pack's rows read back differently from the source's rows {ids[:5]}...")
            files[rel] = file_entry(staging / rel, rows=len(ids), source={
                "file": rel, "sha256": sha256_file(data_dir / rel), "rows_in_file": len(src.examples), "row_ids": ids})
        (staging / "NOTICE").write_text(notice(uses, data_dir, config_name), encoding="utf-8")
        files["NOTICE"] = file_entry(staging / "NOTICE")
        languages = [lang for target in source.targets for lang in source.languages[target.name]]
        made_for = {"config": config_name, "targets": [t.name for t in source.targets],
                    "intermediate_tasks": list(cfg.intermediate_tasks), "languages": list(dict.fromkeys(languages)),
                    "data": {k: getattr(cfg.data, k) for k in SAMPLING_KEYS}}
        write_manifest(staging, files, kind="builtin-pack", name=NAME, made_by="scripts/make_quickstart_pack.py",
                       made_for=made_for)
        # the run's own sampling on the pack must take every row, in order
        packed = Experiment(cfg, Path(unused_run), staging)
        for rel, (task, split, lang, ids) in uses.items():
            if packed.row_ids(task, split, lang) != list(range(len(ids))):
                raise AdaptxError(f"{rel}: sampling the pack with the config's settings does not take every row")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"),
                        help="the full data folder (default: ../shared/data)")
    parser.add_argument("--out", default=str(PACKS_DIR / NAME))
    args = parser.parse_args()
    try:
        out = build_pack(Path(args.data_dir), Path(args.out))
    except AdaptxError as exc:
        print(f"make_quickstart_pack: error: {exc}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 1e6:.2f} MB, {sum(1 for p in out.rglob('*') if p.is_file())} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
