"""`adaptx` command line: parses arguments, then calls one library function per command."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .cli_examples import add_examples
from .errors import AdaptxError
from .logs import add_verbosity_arguments


def _cmd_model_export(args) -> int:
    from .models import export_model

    out = export_model(args.name, args.out_dir)
    print(f"exported {args.name!r} to {out} (load it with transformers.AutoModel/AutoTokenizer.from_pretrained)")
    return 0


def _cmd_run(args) -> int:
    from .pipeline import run_experiment
    from .progress import require_tensorboard
    from .shipped import resolve_config

    if args.tensorboard:
        require_tensorboard()  # before the model loads: a missing package is a one-second answer
    overrides = list(args.overrides) + ([f"device={args.device}"] if args.device else [])
    run_experiment(resolve_config(args.config), data_dir=args.data_dir, out_dir=args.out, overrides=overrides,
                   smoke=args.smoke, tensorboard=args.tensorboard)
    return 0


def _cmd_config_list(args) -> int:
    from .shipped import format_config_list

    print(format_config_list())
    return 0


def _cmd_config_show(args) -> int:
    from .shipped import config_file

    print(config_file(args.name).read_text(encoding="utf-8"), end="")
    return 0


def _cmd_config_cp(args) -> int:
    from .shipped import copy_config

    target = copy_config(args.name, args.path)
    print(f"copied {args.name} to {target}; edit it and run it with `adaptx run {target}`")
    return 0


def _add_config_commands(sub) -> None:
    config = sub.add_parser("config", help="the configs shipped with adaptx: list, show, copy one to edit")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    actions.add_parser("list", help="every shipped config by name, with what it runs").set_defaults(
        func=_cmd_config_list)
    show = actions.add_parser("show", help="print a shipped config")
    show.add_argument("name", help="a shipped config's name, e.g. quickstart or xtreme/xnli")
    show.set_defaults(func=_cmd_config_show)
    cp = actions.add_parser("cp", help="copy a shipped config to a file of your own (never overwrites)")
    cp.add_argument("name", help="a shipped config's name")
    cp.add_argument("path", help="the new file (NAME.yaml), or an existing folder to put it in")
    cp.set_defaults(func=_cmd_config_cp)
    config.set_defaults(func=lambda _args: (config.print_help(), 2)[1])


def _seconds(text: str) -> float:
    """--timeout: a finite number of seconds > 0 (float() alone takes nan, which would mean no limit)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got {text!r}")
    return value


def _study_name(text: str) -> str:
    """--study: the zoo's entry-name rule, since the name becomes the folder search/<study>/."""
    from .search_space import study_name_problem

    if problem := study_name_problem(text):
        raise argparse.ArgumentTypeError(problem)
    return text


def _cmd_search(args) -> int:
    from .search import run_search
    from .shipped import resolve_config

    overrides = list(args.overrides) + ([f"device={args.device}"] if args.device else [])
    run_search(resolve_config(args.config), data_dir=args.data_dir, out_dir=args.out, storage=args.storage, study_name=args.study,
               trials=args.trials, timeout=args.timeout, overrides=overrides)
    return 0


def _cmd_report(args) -> int:
    from .report import print_report

    problems = print_report(args.run_dir, args.format)  # the tables of what is sound; each problem on stderr
    return 1 if problems else 0


def _cmd_analyze(args) -> int:
    from .analysis.analyze import analyze, summary_lines

    analysis = analyze(args.runs, args.out, draw_plots=not args.no_plots, against=args.against,
                       include_same_data=args.include_same_data)
    print("\n".join(summary_lines(analysis)))
    return 0


def _cmd_rank(args) -> int:
    from .rank.command import run_rank
    from .rank.ranking import Options

    # --candidates takes every word after it: key=value words are overrides (no candidate name has '=')
    words = args.candidates or []
    candidates, overrides = [w for w in words if "=" not in w] or None, [w for w in words if "=" in w]
    options = Options(max_examples=args.max_examples, max_rows=args.max_rows, by=args.by, top=args.top)
    print("\n".join(run_rank(args.config, candidates, out=args.out, run_dir=args.run, data_dir=args.data_dir,
                             device=args.device, options=options, overrides=list(args.overrides) + overrides,
                             grid=args.grid)))
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _add_rank_command(sub) -> None:
    rank = sub.add_parser("rank", help="score candidate intermediate adapters for the config's target(s) before "
                                       "training on them (LogME, TextEmb; docs/rank.md)")
    rank.add_argument("config", help="experiment YAML: its target_task(s), base model and data")
    rank.add_argument("--candidates", nargs="+", metavar="CAND",
                      help="zoo:NAME entries or task names (default: the config's intermediate_tasks); 'all': every "
                           "intermediate entry of the zoo trained on this base")
    rank.add_argument("--out", help="output folder (default: the run folder's rank/)")
    rank.add_argument("--run", help="the run folder whose trained intermediate adapters task-name candidates use "
                                    "(default: the config's output_dir)")
    rank.add_argument("--data-dir", help="local data folder (as for adaptx run)")
    rank.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    rank.add_argument("--top", type=_positive, metavar="K", help="also write topK-<target>.yaml: the K best "
                                                                  "candidates as intermediate_tasks")
    rank.add_argument("--by", choices=("logme", "textemb"), default="logme",
                      help="the estimator the table is sorted by and --top takes (default logme)")
    rank.add_argument("--max-examples", type=_positive, default=1000,
                      help="English training examples per target, and texts per candidate (default 1000)")
    rank.add_argument("--max-rows", type=_positive, default=20000,
                      help="LogME rows per target: examples, or tokens for tagging and QA (default 20000)")
    rank.add_argument("--grid", nargs="+", metavar="RUN", help="score the estimators against run folders that "
                                                               "trained the candidates under the target "
                                                               "(Regret@1/3, Spearman; scores.md)")
    rank.add_argument("overrides", nargs="*", default=[], metavar="key=value", help="dotted config overrides")
    rank.set_defaults(func=_cmd_rank)


def _cmd_predict(args) -> int:
    from .predict import predict_file

    n, predictor = predict_file(args.source, args.input, args.out, args.stage, args.device, args.dtype, args.zoo,
                                args.base, args.batch_size)
    # stdout holds the predictions (when no --out): what was used goes to stderr
    print(f"adaptx: {n} rows predicted with {predictor.source}, task {predictor.task}"
          f"{f'; {predictor.note}' if predictor.note else ''}{f'; wrote {args.out}' if args.out else ''}",
          file=sys.stderr)
    return 0


def _add_predict_command(sub) -> None:
    predict = sub.add_parser("predict", help="predict rows of your own with a trained model (a run, a stage, a zoo "
                                             "entry)")
    predict.add_argument("source", help="a run folder (runs/NAME: its best evaluated target stage unless "
                                        "--stage), a stage folder (runs/NAME/stages/ID-HASH), zoo:NAME or a zoo "
                                        "entry folder")
    predict.add_argument("--stage", help="with a run folder: the stage to use, by id, folder name or strategy")
    predict.add_argument("--input", required=True, help="rows to predict: FILE.jsonl (one JSON object per line; - "
                                                        "reads standard input) or FILE.tsv (a header row naming the "
                                                        "fields); fields per task kind in docs/predict.md")
    predict.add_argument("--out", help="write the predictions here as JSON lines (default: standard output)")
    predict.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    predict.add_argument("--dtype", help="the frozen base's dtype: fp32 | bf16 | fp16 | auto (default: the one the "
                                         "model was evaluated in)")
    predict.add_argument("--zoo", help="the zoo folder for zoo:NAME (default: $ADAPTX_ZOO, else ./adapter_zoo)")
    predict.add_argument("--base", help="the base model, when the run's name for it no longer loads (a moved "
                                        "folder); it must hold the exact weights the model was trained on")
    predict.add_argument("--batch-size", type=int, default=64, help="rows per forward pass (default 64)")
    predict.set_defaults(func=_cmd_predict)


def _zoo(args):
    from . import zoo

    return zoo, zoo.user_zoo(args.zoo)


def _cmd_zoo_list(args) -> int:
    from . import zoo_index

    from .zoo_roots import zoos

    listed = zoos(args.zoo)  # the user zoo, then the one shipped with adaptx
    print(zoo_index.format_listing(listed, args.task, args.base))
    problems = [p for zoo in listed for p in zoo_index.index_problems(zoo.path)]  # the rest is still listed
    for problem in problems:
        print(f"adaptx: zoo: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _cmd_zoo_show(args) -> int:
    import json

    from .zoo_summary import format_card

    zoo, root = _zoo(args)
    entry, card = zoo.require_entry(root, args.name)
    print(json.dumps(card, indent=2) if args.json else format_card(entry, card))
    return 0


def _cmd_zoo_add(args) -> int:
    zoo, root = _zoo(args)
    path = zoo.add_entry(root, args.stage_dir, args.name, args.entry_version)
    print(f"added {path}; reuse it in a config with intermediate_tasks: [zoo:{args.name}]")
    return 0


def _cmd_zoo_verify(args) -> int:
    zoo, root = _zoo(args)
    if args.rescore and not args.data_dir:
        raise AdaptxError("zoo verify --rescore needs --data-dir DIR: a data folder with the entries' English dev "
                          "files (`adaptx data pull TASK... --out DIR` writes one; docs/data.md#local-data-layout)")
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
    from .zoo_export import export_entry

    _, root = _zoo(args)
    out = export_entry(root, args.name, args.out_dir)
    print(f"exported {args.name!r} to {out} (adapters' load_adapter(DIR, use_safetensors=True) reads it with its "
          "head; its README.md shows how)")
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
    where.add_argument("--zoo", help="your zoo folder (default: $ADAPTX_ZOO, else ./adapter_zoo); entries are "
                                     "also read from the zoo shipped with adaptx")

    def action(name, func, help_text, *arguments):
        parser = actions.add_parser(name, parents=[where], help=help_text)
        for flags, kwargs in arguments:
            parser.add_argument(*flags, **kwargs)
        parser.set_defaults(func=func)

    action("list", _cmd_zoo_list, "list entries (reads only the index)",
           (["--task"], {"help": "only entries of this task"}),
           (["--base"], {"help": "only entries for this base: id, family or fingerprint prefix"}))
    action("show", _cmd_zoo_show, "verify an entry and summarise its card (task, base, method, score, budget, files)",
           (["name"], {}), (["--json"], {"action": "store_true", "help": "print the whole card as JSON instead"}))
    action("add", _cmd_zoo_add, "publish a finished stage (intermediate adapter, none/stack target adapter, fusion)",
           (["stage_dir"], {"help": "runs/<run>/stages/<stage>-<hash>"}), (["--name"], {"required": True}),
           (["--entry-version"], {"default": "1", "help": "the entry's version label (default 1)"}))
    action("verify", _cmd_zoo_verify, "check checksums, card fields, no pickles, index consistency",
           (["name"], {"nargs": "?"}),
           (["--rebuild-index"], {"action": "store_true", "help": "rewrite index.json from the entries that pass"}),
           (["--rescore"], {"action": "store_true", "help": "also load each (intermediate / none) entry as zoo:NAME "
                                                            "and score its English dev metric again on the rows "
                                                            "its card records; compare with the card"}),
           (["--data-dir"], {"help": "with --rescore: a data folder in the local layout (`adaptx data pull ... "
                                      "--out DIR`; docs/data.md)"}),
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
    from .packs import PREFIX
    from .shipped import pack_folder

    check = verify_folder(pack_folder(args.dir) if args.dir.startswith(PREFIX) else args.dir)
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
    verify.add_argument("dir", help="a data folder, or builtin:NAME for a data pack shipped with adaptx")
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
    run.add_argument("config", help="a shipped config by name (`adaptx config list`: quickstart, xtreme/xnli, ...) "
                                    "or an experiment YAML file, e.g. my-experiment.yaml")
    run.add_argument("--data-dir", help="a data folder in the local layout (`adaptx data pull ... --out DIR`; "
                                        "docs/data.md) (default: the config's data.dir)")
    run.add_argument("--out", help="run folder (default: the config's output_dir)")
    run.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: the config's device, auto)")
    # default=[]: without one, argparse reports the optional overrides as required when CONFIG is missing
    run.add_argument("overrides", nargs="*", default=[], metavar="key=value",
                     help="dotted config overrides, e.g. train.target_steps=50")
    run.add_argument("--smoke", action="store_true", help="the same run shrunk to about a minute on a CPU (every "
                                                          "stage, 2 steps, a few rows, 2 languages) into "
                                                          "<output_dir>-smoke: checks it runs; numbers mean nothing")
    run.add_argument("--tensorboard", action="store_true", help="also write training curves to <run>/tensorboard "
                                                                "(needs pip install tensorboard)")
    run.set_defaults(func=_cmd_run)

    search = sub.add_parser("search", help="Optuna search over compositions and fusion settings (the config's "
                                           "search: section); every worker runs the same command")
    search.add_argument("config", help="a shipped config by name (e.g. search-xnli) or a YAML file, with a "
                                       "search: section")
    search.add_argument("--data-dir", help="local data folder (as for adaptx run)")
    search.add_argument("--out", help="run folder: shared stages, search.db, search/<study>/ (default: output_dir)")
    search.add_argument("--storage", help="Optuna storage: a database URL (sqlite:///f.db, postgresql://user:pw@host/db) "
                                          "or journal:PATH (a file on a shared file system); default: "
                                          "sqlite in the run folder")
    search.add_argument("--study", type=_study_name, help="study name (default: search.study, else the config's name)")
    search.add_argument("--trials", type=int, help="the study's total of finished trials, over all workers and "
                                                   "earlier runs (default: search.trials); a larger N adds trials")
    search.add_argument("--timeout", type=_seconds, help="stop this worker after S seconds (its running trial "
                                                         "finishes); a finite number > 0")
    search.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    search.add_argument("overrides", nargs="*", default=[], metavar="key=value", help="dotted config overrides")
    search.set_defaults(func=_cmd_search)

    report = sub.add_parser("report", help="reprint the results tables of a finished or partial run")
    report.add_argument("run_dir")
    report.add_argument("--format", choices=("md", "csv", "json", "latex"), default="md",
                        help="md: the tables as results.md has them (default); csv: one row per cell; json: the "
                             "summary with intervals; latex: booktabs tabulars")
    report.set_defaults(func=_cmd_report)
    analyze = sub.add_parser("analyze", help="gains with paired intervals, gap and gain vs typological distance "
                                             "from English (URIEL), plots; over one or more runs")
    analyze.add_argument("runs", nargs="+", metavar="RUN", help="run folders (or a search's search/<study>/best)")
    analyze.add_argument("--out", help="output folder (default: the first RUN's analysis/)")
    analyze.add_argument("--no-plots", action="store_true", help="tables and analysis.md only (no PNGs)")
    analyze.add_argument("--include-same-data", action="store_true",
                         help="keep rows whose intermediate task trained on the target's own English data (§, e.g. "
                              "MNLI under XNLI) in the typology reading (default: tables only)")
    analyze.add_argument("--against", metavar="ROW",
                         help="measure every row's gains against this row (e.g. fuse, or 'stack (mnli)') instead of "
                              "each strategy's own baseline (none)")
    analyze.set_defaults(func=_cmd_analyze)
    _add_rank_command(sub)
    _add_predict_command(sub)

    model = sub.add_parser("model", help="base-model utilities")
    model_sub = model.add_subparsers(dest="model_command", metavar="ACTION")
    export = model_sub.add_parser("export", help="write a base model as a plain Hugging Face folder")
    export.add_argument("name", help="'embedded', a hub id or a local folder")
    export.add_argument("out_dir")
    export.set_defaults(func=_cmd_model_export)
    model.set_defaults(func=lambda _args: (model.print_help(), 2)[1])
    _add_data_commands(sub)
    _add_zoo_commands(sub)
    _add_config_commands(sub)
    add_examples(parser, sub.choices)
    add_verbosity_arguments(parser)
    return parser


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that Python's own flush at exit does not fail on the
    closed pipe again (and print a second traceback)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (tests capture it)
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # overrides may follow --data-dir/--out, which plain argparse positionals do not allow
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "command", None) not in ("run", "search", "rank") or not all("=" in e and not e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = list(args.overrides) + extra
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    from .hugepages import prefer_huge_pages
    from .interrupts import sigterm_as_interrupt
    from .logs import configure

    prefer_huge_pages()  # before any command imports torch: 2 MiB pages for its large buffers
    configure(args.verbosity)
    try:
        with sigterm_as_interrupt():  # a scheduler's SIGTERM stops like Ctrl-C: cleanup runs, exit 143
            return args.func(args)
    except AdaptxError as exc:
        print(f"adaptx: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader of standard output left (`adaptx report RUN | head -3`): stop quietly
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader closed the pipe
    except OSError as exc:  # a file adaptx reads or writes, refused by the OS (disk full, read-only, ...)
        from .fileio import os_error_text

        print(f"adaptx: error: {os_error_text(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        where = getattr(exc, "where", "") or "finished stages are kept and a rerun resumes"
        print(f"adaptx: {getattr(exc, 'signal_name', 'SIGINT')}: interrupted; {where}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)


if __name__ == "__main__":
    sys.exit(main())
