"""`adaptx zoo ACTION`: publish, find, verify and reuse trained adapters (adaptx.zoo and its zoo_* helpers)."""

from __future__ import annotations

import argparse
import sys

from ..errors import AdaptxError
from .arguments import LOCAL_DATA, add_action, add_actions, add_data_dir, add_device, run_action

TAKES_OVERRIDES = False
main = run_action


def _zoo(args):
    from .. import zoo

    return zoo, zoo.user_zoo(args.zoo)


def _list(args) -> int:
    from .. import zoo_index
    from ..zoo_resolve import zoos

    listed = zoos(args.zoo)  # the user zoo, then the one shipped with adaptx
    print(zoo_index.format_listing(listed, args.task, args.base))
    problems = [p for zoo in listed for p in zoo_index.index_problems(zoo.path)]  # the rest is still listed
    for problem in problems:
        print(f"adaptx: zoo: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _show(args) -> int:
    import json

    from ..zoo_summary import format_card

    zoo, root = _zoo(args)
    entry, card = zoo.require_entry(root, args.name)
    print(json.dumps(card.data, indent=2) if args.json else format_card(entry, card))
    return 0


def _add(args) -> int:
    zoo, root = _zoo(args)
    path = zoo.add_entry(root, args.stage_dir, args.name, args.entry_version)
    print(f"added {path}; reuse it in a config with intermediate_tasks: [zoo:{args.name}]")
    return 0


def _verify(args) -> int:
    zoo, root = _zoo(args)
    if args.rescore and not args.data_dir:
        raise AdaptxError("zoo verify --rescore needs --data-dir DIR: a data folder with the entries' English dev "
                          "files (`adaptx data pull TASK... --out DIR` writes one; docs/data.md#local-data-layout)")
    checked, problems = zoo.verify_zoo(root, args.name, args.rebuild_index)
    if args.rescore:
        from ..zoo_rescore import rescore_zoo

        lines, found = rescore_zoo(root, args.name, args.data_dir, args.device, args.tolerance)
        print("\n".join(lines))
        problems += found
    for problem in problems:
        print(f"adaptx: zoo: {problem}", file=sys.stderr)
    rebuilt = f"; {zoo.INDEX_FILE} rebuilt from the entries that passed" if args.rebuild_index else ""
    print(f"{root}: {checked} entries checked, {len(problems)} problems{rebuilt}")
    return 1 if problems else 0


def _remove(args) -> int:
    zoo, root = _zoo(args)
    zoo.remove_entry(root, args.name)
    print(f"removed {args.name!r} from {root}")
    return 0


def _export(args) -> int:
    from ..zoo_export import export_entry

    _, root = _zoo(args)
    out = export_entry(root, args.name, args.out_dir)
    print(f"exported {args.name!r} to {out} (adapters' load_adapter(DIR, use_safetensors=True) reads it with its "
          "head; its README.md shows how)")
    return 0


def _push(args) -> int:
    zoo, root = _zoo(args)
    zoo.push_entry(root, args.name, args.repo_id, args.revision)
    print(f"pushed {args.name!r} to the hub repo {args.repo_id} under {args.name}/")
    return 0


def _pull(args) -> int:
    zoo, root = _zoo(args)
    path = zoo.pull_entry(root, args.repo_id, args.name, args.revision)
    print(f"pulled and verified {args.name!r} from {args.repo_id} into {path}")
    return 0


def _add_verify(actions, where) -> None:
    verify = add_action(actions, "verify", _verify, parents=[where],
                        help="check checksums, card fields, no pickles, index consistency")
    verify.add_argument("name", nargs="?")
    verify.add_argument("--rebuild-index", action="store_true", help="rewrite index.json from the entries that pass")
    verify.add_argument("--rescore", action="store_true", help="also load each (intermediate / none) entry as "
                                                               "zoo:NAME and score its English dev metric again on "
                                                               "the rows its card records; compare with the card")
    add_data_dir(verify, f"with --rescore: {LOCAL_DATA}")
    add_device(verify, "auto", scope="with --rescore: ")
    verify.add_argument("--tolerance", type=float, default=0.0,
                        help="with --rescore: largest accepted |score - card| (default 0: exact; another device or "
                             "dtype can flip near-tie predictions)")


def add_parser(subparsers):
    zoo = subparsers.add_parser("zoo", help="publish, find, verify and reuse trained adapters (an adapter zoo "
                                            "folder)")
    actions = add_actions(zoo, "zoo_command")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--zoo", help="your zoo folder (default: $ADAPTX_ZOO, else ./adapter_zoo); entries are "
                                     "also read from the zoo shipped with adaptx")

    def action(name, func, help_text, *arguments):
        parser = add_action(actions, name, func, parents=[where], help=help_text)
        for flags, kwargs in arguments:
            parser.add_argument(*flags, **kwargs)

    action("list", _list, "list entries (reads only the index)",
           (["--task"], {"help": "only entries of this task"}),
           (["--base"], {"help": "only entries for this base: id, family or fingerprint prefix"}))
    action("show", _show, "verify an entry and summarise its card (task, base, method, score, budget, files)",
           (["name"], {}), (["--json"], {"action": "store_true", "help": "print the whole card as JSON instead"}))
    action("add", _add, "publish a finished stage (intermediate adapter, none/stack target adapter, fusion)",
           (["stage_dir"], {"help": "runs/<run>/stages/<stage>-<hash>"}), (["--name"], {"required": True}),
           (["--entry-version"], {"default": "1", "help": "the entry's version label (default 1)"}))
    _add_verify(actions, where)
    action("remove", _remove, "delete an entry and its index record", (["name"], {}))
    action("export", _export, "write an entry as plain AdapterHub adapter folder(s)", (["name"], {}), (["out_dir"], {}))
    action("push", _push, "upload a verified entry to a Hugging Face hub repo",
           (["name"], {}), (["repo_id"], {}), (["--revision"], {}))
    action("pull", _pull, "download an entry from a hub repo; verified before it is added",
           (["repo_id"], {}), (["name"], {}), (["--revision"], {}))
    return zoo
