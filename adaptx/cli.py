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

    overrides = list(args.overrides) + ([f"device={args.device}"] if args.device else [])
    run_experiment(args.config, data_dir=args.data_dir, out_dir=args.out, overrides=overrides)
    return 0


def _cmd_search(args) -> int:
    from .search import run_search

    overrides = list(args.overrides) + ([f"device={args.device}"] if args.device else [])
    run_search(args.config, data_dir=args.data_dir, out_dir=args.out, storage=args.storage, study_name=args.study,
               trials=args.trials, timeout=args.timeout, overrides=overrides)
    return 0


def _cmd_report(args) -> int:
    from .report import print_report

    print_report(args.run_dir)
    return 0


def _zoo(args):
    from . import zoo

    return zoo, zoo.zoo_root(args.zoo)


def _cmd_zoo_list(args) -> int:
    zoo, root = _zoo(args)
    print(zoo.format_entries(zoo.list_entries(root, args.task, args.base), root))
    return 0


def _cmd_zoo_show(args) -> int:
    import json

    zoo, root = _zoo(args)
    print(json.dumps(zoo.show_entry(root, args.name), indent=2))
    return 0


def _cmd_zoo_add(args) -> int:
    zoo, root = _zoo(args)
    path = zoo.add_entry(root, args.stage_dir, args.name, args.entry_version)
    print(f"added {path}; reuse it in a config with intermediate_tasks: [zoo:{args.name}]")
    return 0


def _cmd_zoo_verify(args) -> int:
    zoo, root = _zoo(args)
    if args.rescore and not args.data_dir:
        raise AdaptxError("zoo verify --rescore needs --data-dir DIR: the data folder with the entries' English dev "
                          "files (e.g. ../shared/data)")
    checked, problems = zoo.verify_zoo(root, args.name, args.rebuild_index)
    if args.rescore:
        from .zoo_rescore import rescore_zoo

        lines, found = rescore_zoo(root, args.name, args.data_dir, args.device, args.tolerance)
        print("\n".join(lines))
        problems += found
    for problem in problems:
        print(f"adaptx: zoo: {problem}", file=sys.stderr)
    rebuilt = f"; {zoo.INDEX_FILE} rebuilt from the entries that passed" if args.rebuild_index else ""
    print(f"{root}: {checked} entries checked, {len(problems)} problems{rebuilt}")
    return 1 if problems else 0


def _cmd_zoo_remove(args) -> int:
    zoo, root = _zoo(args)
    zoo.remove_entry(root, args.name)
    print(f"removed {args.name!r} from {root}")
    return 0


def _cmd_zoo_export(args) -> int:
    zoo, root = _zoo(args)
    out = zoo.export_entry(root, args.name, args.out_dir)
    print(f"exported {args.name!r} to {out} (adapters' load_adapter(DIR, use_safetensors=True) reads it)")
    return 0


def _cmd_zoo_push(args) -> int:
    zoo, root = _zoo(args)
    zoo.push_entry(root, args.name, args.repo_id, args.revision)
    print(f"pushed {args.name!r} to the hub repo {args.repo_id} under {args.name}/")
    return 0


def _cmd_zoo_pull(args) -> int:
    zoo, root = _zoo(args)
    path = zoo.pull_entry(root, args.repo_id, args.name, args.revision)
    print(f"pulled and verified {args.name!r} from {args.repo_id} into {path}")
    return 0


def _add_zoo_commands(sub) -> None:
    zoo = sub.add_parser("zoo", help="publish, find, verify and reuse trained adapters (an adapter zoo folder)")
    actions = zoo.add_subparsers(dest="zoo_command", metavar="ACTION")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--zoo", help="the zoo folder (default: $ADAPTX_ZOO, else ./adapter_zoo)")

    def action(name, func, help_text, *arguments):
        parser = actions.add_parser(name, parents=[where], help=help_text)
        for flags, kwargs in arguments:
            parser.add_argument(*flags, **kwargs)
        parser.set_defaults(func=func)

    action("list", _cmd_zoo_list, "list entries (reads only the index)",
           (["--task"], {"help": "only entries of this task"}),
           (["--base"], {"help": "only entries for this base: id, family or fingerprint prefix"}))
    action("show", _cmd_zoo_show, "print an entry's card after verifying it", (["name"], {}))
    action("add", _cmd_zoo_add, "publish a finished stage (intermediate adapter, none/stack target adapter, fusion)",
           (["stage_dir"], {"help": "runs/<run>/stages/<stage>-<hash>"}), (["--name"], {"required": True}),
           (["--entry-version"], {"default": "1", "help": "the entry's version label (default 1)"}))
    action("verify", _cmd_zoo_verify, "check checksums, card fields, no pickles, index consistency",
           (["name"], {"nargs": "?"}),
           (["--rebuild-index"], {"action": "store_true", "help": "rewrite index.json from the entries that pass"}),
           (["--rescore"], {"action": "store_true", "help": "also load each (intermediate / none) entry as zoo:NAME "
                                                            "and score its English dev metric again on the rows "
                                                            "its card records; compare with the card"}),
           (["--data-dir"], {"help": "with --rescore: the data folder (local layout, e.g. ../shared/data)"}),
           (["--device"], {"default": "auto", "help": "with --rescore: auto | cpu | cuda | cuda:N (default auto)"}),
           (["--tolerance"], {"type": float, "default": 0.0,
                              "help": "with --rescore: largest accepted |score - card| (default 0: exact; another "
                                      "device or dtype can flip near-tie predictions)"}))
    action("remove", _cmd_zoo_remove, "delete an entry and its index record", (["name"], {}))
    action("export", _cmd_zoo_export, "write an entry as plain AdapterHub adapter folder(s)",
           (["name"], {}), (["out_dir"], {}))
    action("push", _cmd_zoo_push, "upload a verified entry to a Hugging Face hub repo",
           (["name"], {}), (["repo_id"], {}), (["--revision"], {}))
    action("pull", _cmd_zoo_pull, "download an entry from a hub repo; verified before it is added",
           (["repo_id"], {}), (["name"], {}), (["--revision"], {}))
    zoo.set_defaults(func=lambda _args: (zoo.print_help(), 2)[1])


def _cmd_data_pull(args) -> int:
    from .pull import pull_tasks

    try:
        pull_tasks(args.tasks, args.out, max_rows=args.max_rows)
    except KeyboardInterrupt:
        print(f"adaptx: interrupted; partial downloads were discarded (`adaptx data verify {args.out}` says whether "
              "the folder is complete; rerun the same command to finish the pull)", file=sys.stderr)
        return 130
    return 0


def _cmd_data_verify(args) -> int:
    from .data_manifest import MANIFEST, verify_folder

    check = verify_folder(args.dir)
    for problem in check.problems():
        print(f"adaptx: data: {problem}", file=sys.stderr)
    verdict = "all match" if check.ok else f"{len(check.problems())} problems"
    print(f"{args.dir}: {check.files} files listed in {MANIFEST}, {verdict}")
    return 0 if check.ok else 1


def _add_data_commands(sub) -> None:
    data = sub.add_parser("data", help="build and check local data folders")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION")
    pull = actions.add_parser("pull", help="download tasks from the Hugging Face hub into the local layout")
    pull.add_argument("tasks", nargs="+", metavar="TASK", help="task names, e.g. qqp xnli")
    pull.add_argument("--out", required=True, help="the data folder to write (new, empty, or from an earlier pull)")
    pull.add_argument("--max-rows", type=int, help="at most N labeled rows per file: the split's first N")
    pull.set_defaults(func=_cmd_data_pull)
    verify = actions.add_parser("verify", help="check a pulled folder against its manifest "
                                                "(missing, changed, extra files)")
    verify.add_argument("dir")
    verify.set_defaults(func=_cmd_data_verify)
    data.set_defaults(func=lambda _args: (data.print_help(), 2)[1])


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
    run.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: the config's device, auto)")
    run.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides, e.g. train.target_steps=50")
    run.set_defaults(func=_cmd_run)

    search = sub.add_parser("search", help="Optuna search over compositions and fusion settings (the config's "
                                           "search: section); every worker runs the same command")
    search.add_argument("config", help="experiment YAML with a search: section")
    search.add_argument("--data-dir", help="local data folder (as for adaptx run)")
    search.add_argument("--out", help="run folder: shared stages, search.db, search/<study>/ (default: output_dir)")
    search.add_argument("--storage", help="Optuna storage: a database URL (sqlite:///f.db, postgresql://user:pw@host/db) "
                                          "or journal:PATH (a file on a shared file system); default: "
                                          "sqlite in the run folder")
    search.add_argument("--study", help="study name (default: search.study, else the config's name)")
    search.add_argument("--trials", type=int, help="the study's total of finished trials, over all workers and "
                                                   "earlier runs (default: search.trials); a larger N adds trials")
    search.add_argument("--timeout", type=float, help="stop this worker after S seconds (its running trial finishes)")
    search.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    search.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    search.set_defaults(func=_cmd_search)

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
    _add_data_commands(sub)
    _add_zoo_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # overrides may follow --data-dir/--out, which plain argparse positionals do not allow
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "command", None) not in ("run", "search") or not all("=" in e and not e.startswith("-") for e in extra):
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
