"""`adaptx` command line: parses arguments, then calls one library function per command."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import AdaptxError


def _cmd_model_export(args) -> int:
    from .models import export_model

    out = export_model(args.name, args.out_dir)
    print(f"exported {args.name!r} to {out} (load it with transformers.AutoModel/AutoTokenizer.from_pretrained)")
    return 0


def _cmd_run(args) -> int:
    from .pipeline import run_experiment

    run_experiment(args.config, data_dir=args.data_dir, out_dir=args.out, overrides=args.overrides)
    return 0


def _cmd_report(args) -> int:
    from .report import print_report

    print_report(args.run_dir)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adaptx",
        description="Adapter-based English intermediate-task training for zero-shot cross-lingual transfer.",
    )
    parser.add_argument("--version", action="version", version=f"adaptx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run an experiment config (intermediate adapters -> target task -> zero-shot eval)")
    run.add_argument("config", help="experiment YAML, e.g. configs/quickstart.yaml")
    run.add_argument("--data-dir", help="local data folder in the layout of shared/data (default: the config's data.dir)")
    run.add_argument("--out", help="run folder (default: the config's output_dir)")
    run.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides, e.g. train.target.steps=50")
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="reprint the results tables of a finished or partial run")
    report.add_argument("run_dir")
    report.set_defaults(func=_cmd_report)

    model = sub.add_parser("model", help="base-model utilities")
    model_sub = model.add_subparsers(dest="model_command", metavar="ACTION")
    export = model_sub.add_parser("export", help="write a base model as a plain Hugging Face folder")
    export.add_argument("name", help="'embedded', a hub id or a local folder")
    export.add_argument("out_dir")
    export.set_defaults(func=_cmd_model_export)
    model.set_defaults(func=lambda _args: (model.print_help(), 2)[1])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # overrides may follow --data-dir/--out, which plain argparse positionals do not allow
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "command", None) != "run" or not all("=" in e and not e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = list(args.overrides) + extra
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except AdaptxError as exc:
        print(f"adaptx: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("adaptx: interrupted; finished stages are kept and a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
