"""The arguments several commands share, each declared once: --device, --dtype, --data-dir, the
key=value overrides, -q/-v, and the ACTION subcommands of a command group. A command words its
own help around them (what the default is, when the flag applies); the flag itself is this one."""

from __future__ import annotations

import argparse

from ..logs import NORMAL, QUIET, VERBOSE

DEVICES = "auto | cpu | cuda | cuda:N"
LOCAL_DATA = "a data folder in the local layout (`adaptx data pull ... --out DIR`; docs/data.md)"
AS_FOR_RUN = "local data folder (as for adaptx run)"


def add_device(parser, default=None, *, scope: str = "", note: str = "") -> None:
    """--device; `scope` says when it applies ("with --rescore: "), `note` what no flag means."""
    if default is not None and not note:
        note = f" (default {default})"
    parser.add_argument("--device", default=default, help=f"{scope}{DEVICES}{note}")


def add_dtype(parser) -> None:
    parser.add_argument("--dtype", help="the frozen base's dtype: fp32 | bf16 | fp16 | auto (default: the one the "
                                        "model was evaluated in where this device runs it natively, else auto's)")


def add_data_dir(parser, text: str = LOCAL_DATA) -> None:
    parser.add_argument("--data-dir", help=text)


def add_overrides(parser, text: str = "dotted config overrides") -> None:
    """The key=value words a command that reads a config takes (its module says TAKES_OVERRIDES = True)."""
    # default=[]: without one, argparse reports the optional overrides as required when CONFIG is missing
    parser.add_argument("overrides", nargs="*", default=[], metavar="key=value", help=text)


def overrides_with_device(args) -> list[str]:
    """The overrides, with --device as the config's `device` (the flag wins: it goes last)."""
    return list(args.overrides) + ([f"device={args.device}"] if args.device else [])


def add_actions(parser, dest: str):
    """The ACTION subcommands of a command group (zoo, data, config, model); the group alone prints its
    help and exits 2. add_action wires each action to its function (run_action calls it)."""
    parser.set_defaults(action=lambda _args: (parser.print_help(), 2)[1])
    return parser.add_subparsers(dest=dest, metavar="ACTION")


def add_action(actions, name: str, func, **kwargs):
    """One ACTION of a group, wired to its function; returns its parser for the action's arguments."""
    parser = actions.add_parser(name, **kwargs)
    parser.set_defaults(action=func)
    return parser


def run_action(args) -> int:
    """A command group's main: the chosen action's function."""
    return args.action(args)


def add_verbosity_arguments(parser) -> None:
    """-q/--quiet and -v/--verbose on `parser` and on every subcommand under it, so they go before or
    after the command (`adaptx -q run ...` = `adaptx run ... -q`)."""

    def add(target, default):
        group = target.add_mutually_exclusive_group()
        group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=QUIET, default=default,
                           help="only warnings, errors and results (no progress lines or bars)")
        group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=VERBOSE, default=default,
                           help="also debug lines and the libraries' own warnings (transformers, adapters)")

    def walk(target, default):
        add(target, default)
        for action in target._actions:  # argparse keeps subcommands here; no public accessor
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child, argparse.SUPPRESS)  # a subcommand's flag must not reset the top-level one

    walk(parser, NORMAL)
