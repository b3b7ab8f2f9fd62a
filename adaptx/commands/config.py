"""`adaptx config list|show|cp`: the configs shipped with adaptx (adaptx.shipped)."""

from __future__ import annotations

from .arguments import add_action, add_actions, run_action

TAKES_OVERRIDES = False
main = run_action


def _list(args) -> int:
    from ..shipped import format_config_list

    print(format_config_list())
    return 0


def _show(args) -> int:
    from ..shipped import config_file

    print(config_file(args.name).read_text(encoding="utf-8"), end="")
    return 0


def _copy(args) -> int:
    from ..shipped import copy_config

    target = copy_config(args.name, args.path)
    print(f"copied {args.name} to {target}; edit it and run it with `adaptx run {target}`")
    return 0


def add_parser(subparsers):
    config = subparsers.add_parser("config", help="the configs shipped with adaptx: list, show, copy one to edit")
    actions = add_actions(config, "config_command")
    add_action(actions, "list", _list, help="every shipped config by name, with what it runs")
    show = add_action(actions, "show", _show, help="print a shipped config")
    show.add_argument("name", help="a shipped config's name, e.g. quickstart or xtreme/xnli")
    cp = add_action(actions, "cp", _copy, help="copy a shipped config to a file of your own (never overwrites)")
    cp.add_argument("name", help="a shipped config's name")
    cp.add_argument("path", help="the new file (NAME.yaml), or an existing folder to put it in")
    return config
