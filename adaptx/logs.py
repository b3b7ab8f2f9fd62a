"""What adaptx says and where: the console (its level set by -q/-v), the run folder's run.log,
progress bars, and how loud the libraries underneath are.

Everything a run reports goes through the `adaptx` logger: progress to standard output, warnings
and errors to standard error, and while a run holds its folder every record also goes to
`<run folder>/run.log` as plain timestamped lines (no progress bars, no carriage returns), at
INFO even under -q. Results (the final table) are shown whatever the level (`result`). Until
`configure` is called (a library user, a test) the console shows INFO, as a plain print would.

Progress bars follow tqdm's own settings (TQDM_DISABLE=1 and the other TQDM_* variables, read by
tqdm >= 4.66 as defaults): adaptx passes `disable=True` only where a bar must not be drawn
(under -q, when standard error is not a terminal, in every process but the first) and otherwise
passes nothing, so the environment decides.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

LOGGER = logging.getLogger("adaptx")
QUIET, NORMAL, VERBOSE = -1, 0, 1
RUN_LOG = "run.log"
# libraries whose INFO/WARNING chatter ("Overwriting existing adapter", unused weights) only -v shows
_LIBRARIES = ("transformers", "adapters", "accelerate", "datasets", "huggingface_hub")


class _Console(logging.Handler):
    """INFO and below to the current sys.stdout, WARNING and above to sys.stderr (looked up per record,
    so redirected and captured streams work), through tqdm.write so an open bar is not torn."""

    def __init__(self):
        super().__init__(logging.DEBUG)  # the threshold is checked in filter(), where results pass it
        self.threshold = logging.INFO

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.threshold or getattr(record, "result", False)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            tqdm.write(for_terminal(self.format(record), stream), file=stream)
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's own contract: a failing handler reports, never raises
            self.handleError(record)


_console = _Console()
_state = {"verbosity": NORMAL}
if not LOGGER.handlers:
    LOGGER.addHandler(_console)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


def configure(verbosity: int = NORMAL) -> None:
    """Set the console's level: QUIET (warnings, errors, results), NORMAL (progress), VERBOSE (debug
    lines, and the libraries' own warnings and info)."""
    _state["verbosity"] = verbosity
    _console.threshold = {QUIET: logging.WARNING, NORMAL: logging.INFO}.get(verbosity, logging.DEBUG)
    LOGGER.setLevel(logging.DEBUG if verbosity >= VERBOSE else logging.INFO)
    quiet_libraries(verbosity < VERBOSE)


def quiet_libraries(quiet: bool = True) -> None:
    """Only errors from the libraries underneath (their warnings repeat on every stage), unless -v.
    transformers keeps its own handler and level: set through its API once imported, else through
    TRANSFORMERS_VERBOSITY, which it reads on import (a value the user set stays)."""
    level = logging.ERROR if quiet else logging.WARNING
    for name in _LIBRARIES:
        logging.getLogger(name).setLevel(level)
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(level)
    elif "TRANSFORMERS_VERBOSITY" not in os.environ or os.environ["TRANSFORMERS_VERBOSITY"] in ("error", "warning"):
        os.environ["TRANSFORMERS_VERBOSITY"] = "error" if quiet else "warning"
    if _state["verbosity"] <= QUIET:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # downloads draw no bars under -q


def verbosity() -> int:
    return _state["verbosity"]


def bar_options(rank: int = 0) -> dict:
    """tqdm keyword arguments: `disable=True` where no bar may be drawn, else none (tqdm's TQDM_* apply)."""
    if rank != 0 or _state["verbosity"] <= QUIET or not _is_terminal(sys.stderr):
        return {"disable": True}
    return {}


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def for_terminal(text: str, stream) -> str:
    """`text` wrapped to a terminal's width at word boundaries, each continuation indented two spaces
    past its line's own indent; tables (lines starting with '|') and anything not written to a terminal
    (files, pipes, run.log, tests) stay exactly as they are, one line per message to grep."""
    if not _is_terminal(stream):
        return text
    import shutil
    import textwrap

    width = max(40, shutil.get_terminal_size((100, 24)).columns - 1)
    lines = []
    for line in text.split("\n"):
        if len(line) <= width or line.lstrip().startswith("|"):
            lines.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        lines += textwrap.wrap(line, width, subsequent_indent=indent + "  ", break_long_words=False,
                               break_on_hyphens=False)
    return "\n".join(lines)


def info(message: str) -> None:
    LOGGER.info(message)


def debug(message: str) -> None:
    LOGGER.debug(message)


def warning(message: str) -> None:
    LOGGER.warning(message)


def result(message: str) -> None:
    """What a command exists to show (a results table): printed under -q too, and kept in run.log."""
    LOGGER.info(message, extra={"result": True})


class _PlainFile(logging.FileHandler):
    """run.log: one timestamped line per record, carriage returns turned into line breaks."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r\n", "\n").replace("\r", "\n")


@contextmanager
def run_log(run_dir: Path, enabled: bool = True):
    """Append every record to `<run_dir>/run.log` while the block runs; an error or interruption that
    ends the block is recorded there too (the command line prints it to the console)."""
    if not enabled:
        yield None
        return
    path = Path(run_dir) / RUN_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _PlainFile(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(logging.DEBUG if _state["verbosity"] >= VERBOSE else logging.INFO)
    LOGGER.addHandler(handler)
    try:
        yield path
    except BaseException as exc:
        reason = str(exc) or type(exc).__name__
        handler.handle(LOGGER.makeRecord(LOGGER.name, logging.ERROR, __file__, 0, f"run ended: {reason}", None, None))
        raise
    finally:
        LOGGER.removeHandler(handler)
        handler.close()
