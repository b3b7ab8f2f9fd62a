"""`adaptx data pull|verify`: build and check local data folders (adaptx.pull, adaptx.data_manifest)."""

from __future__ import annotations

import sys

from .arguments import add_action, add_actions, run_action

TAKES_OVERRIDES = False
main = run_action


def _pull(args) -> int:
    from ..pull import pull_tasks

    try:
        pull_tasks(args.tasks, args.out, max_rows=args.max_rows)
    except KeyboardInterrupt:
        print(f"adaptx: interrupted; partial downloads were discarded (`adaptx data verify {args.out}` says whether "
              "the folder is complete; rerun the same command to finish the pull)", file=sys.stderr)
        return 130
    return 0


def _verify(args) -> int:
    from ..data_manifest import MANIFEST, verify_folder
    from ..packs import PREFIX
    from ..shipped import pack_folder

    check = verify_folder(pack_folder(args.dir) if args.dir.startswith(PREFIX) else args.dir)
    for problem in check.problems():
        print(f"adaptx: data: {problem}", file=sys.stderr)
    verdict = "all match" if check.ok else f"{len(check.problems())} problems"
    print(f"{args.dir}: {check.files} files listed in {MANIFEST}, {verdict}")
    return 0 if check.ok else 1


def add_parser(subparsers):
    data = subparsers.add_parser("data", help="build and check local data folders")
    actions = add_actions(data, "data_command")
    pull = add_action(actions, "pull", _pull, help="download tasks from the Hugging Face hub into the local layout")
    pull.add_argument("tasks", nargs="+", metavar="TASK", help="task names, e.g. qqp xnli")
    pull.add_argument("--out", required=True, help="the data folder to write (new, empty, or from an earlier pull)")
    pull.add_argument("--max-rows", type=int, help="at most N labeled rows per file: the split's first N")
    verify = add_action(actions, "verify", _verify, help="check a pulled folder against its manifest "
                                                         "(missing, changed, extra files)")
    verify.add_argument("dir", help="a data folder, or builtin:NAME for a data pack shipped with adaptx")
    return data
