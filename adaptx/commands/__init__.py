"""The `adaptx` commands: one module each, with `add_parser(subparsers)` (returns the command's parser),
`main(args)` (returns the exit status) and `TAKES_OVERRIDES` (whether key=value words may follow
anywhere). Heavy imports stay inside `main`, so `adaptx --help` loads no model code.

arguments.py holds what several commands share (--device, --dtype, --data-dir, overrides, -q/-v,
ACTION groups). A new command is a new module here and its name in NAMES (one line).
"""

from __future__ import annotations

from importlib import import_module

# the order of `adaptx --help`; a new command is its module here plus its name in this one line
NAMES = ("run", "search", "report", "analyze", "rank", "predict", "model", "data", "zoo", "config")
COMMANDS = tuple(import_module(f".{name}", __name__) for name in NAMES)
