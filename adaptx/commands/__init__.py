"""The `adaptx` commands: one module each, with `add_parser(subparsers)` (returns the command's parser),
`main(args)` (returns the exit status) and `TAKES_OVERRIDES` (whether key=value words may follow
anywhere). Heavy imports stay inside `main`, so `adaptx --help` loads no model code.

arguments.py holds what several commands share (--device, --dtype, --data-dir, overrides, -q/-v,
ACTION groups). A new command is a new module here and its name in COMMANDS.
"""

from __future__ import annotations

from . import analyze, config, data, model, predict, rank, report, run, search, zoo

COMMANDS = (run, search, report, analyze, rank, predict, model, data, zoo, config)  # the order of `adaptx --help`
