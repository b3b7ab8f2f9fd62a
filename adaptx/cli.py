"""`adaptx` command line: the top-level parser, logging set up, and dispatch to the command chosen
(adaptx/commands/, one module per command)."""

from __future__ import annotations

import argparse
import sys

from .cli_examples import add_examples
from .commands import COMMANDS
from .commands.arguments import add_verbosity_arguments
from .errors import AdaptxError
from .version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adaptx",
        description="Adapter-based English intermediate-task training for zero-shot cross-lingual transfer.",
    )
    parser.add_argument("--version", action="version", version=f"adaptx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub).set_defaults(func=command.main, takes_overrides=command.TAKES_OVERRIDES)
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


def parse_command_line(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments as `main` reads them (argparse exits 2 on a mistake, 0 after --help); tests check
    every documented example with it."""
    # overrides may follow --data-dir/--out, which plain argparse positionals do not allow
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not getattr(args, "takes_overrides", False) or not all("=" in e and not e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = list(args.overrides) + extra
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_command_line(parser, argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    from .hugepages import prefer_huge_pages
    from .interrupts import sigterm_as_interrupt
    from .logs import configure, for_terminal

    prefer_huge_pages()  # before any command imports torch: 2 MiB pages for its large buffers
    configure(args.verbosity)
    try:
        with sigterm_as_interrupt():  # a scheduler's SIGTERM stops like Ctrl-C: cleanup runs, exit 143
            return args.func(args)
    except AdaptxError as exc:
        print(for_terminal(f"adaptx: error: {exc}", sys.stderr), file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader of standard output left (`adaptx report RUN | head -3`): stop quietly
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader closed the pipe
    except OSError as exc:  # a file adaptx reads or writes, refused by the OS (disk full, read-only, ...)
        from .fileio import os_error_text

        print(for_terminal(f"adaptx: error: {os_error_text(exc)}", sys.stderr), file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        where = getattr(exc, "where", "") or "finished stages are kept and a rerun resumes"
        print(f"adaptx: {getattr(exc, 'signal_name', 'SIGINT')}: interrupted; {where}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)


if __name__ == "__main__":
    sys.exit(main())
