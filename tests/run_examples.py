"""Run every example command line a user can copy: the `adaptx ...` lines of the code blocks in
README.md and docs/*.md, and the examples each `adaptx COMMAND --help` ends with.

Each code block (each help's examples) runs in order in a new empty folder, through `python -m
adaptx` (the adaptx this interpreter imports: an installed one, or PYTHONPATH's), as a user who
copied it there would run it. Its other shell lines (writing an input file) run too. What cannot
run here is said, never hidden:

- a synopsis (`adaptx run CONFIG [--out DIR]`: placeholders) is neither parsed nor run;
- what needs the Hugging Face hub (`data pull`, `zoo push/pull`, a config with `data.source: hub` or a
  hub base model) is parsed only; a folder `data pull --out data/hub` would write is the reference
  data folder (a link), and DATA stands for it too: --data DIR, $ADAPTX_EXAMPLES_DATA, else the
  project's ../shared/data (examples that need it are skipped, with the reason, when it is absent);
- the default mode runs the cheap examples (help, config, zoo, report, analyze: seconds) and parses
  the rest; `--full` also runs the ones that train (`run` with --smoke added, its output kept where
  the example's next lines look; `search` shrunk the same way to one trial), load a model
  (`predict`, `rank` on a few rows, `model export`, `zoo verify --rescore`) or need a trained run;
- runs/quickstart, which many examples read, is prepared in each folder that names it: a small
  simulated run in the default mode, a real `adaptx run quickstart --smoke` (made once) with --full.

Every example, run or not, is first parsed as `adaptx` parses it, with its config resolved in its
block's folder and its overrides applied. In the default mode, a cheap example that fails after an
example of its block that did not run is reported as not run (it may need what that one makes).

    python tests/run_examples.py [--full] [--data DIR] [--match REGEX] [--list]

tests/test_examples.py runs the default mode under pytest, and --full with ADAPTX_SLOW_TESTS=1.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^\s*(```|~~~)")
HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")
QUICKSTART_RUN = re.compile(r"runs/quickstart(?![\w-])")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(\.\w+)?$|\.\.\.|…|^\[")
HASH = "@HASH@"  # stands for <hash> (a stage folder's suffix) until the folder exists
NLI_ROWS = ('{"premise": "The cat sleeps on the sofa.", "hypothesis": "An animal is resting."}\n'
            '{"premise": "Der Hund bellt laut.", "hypothesis": "Der Hund ist still."}\n')
TIMEOUT = {"default": 300, "full": 3600}
SHELL_SETUP = ("cat", "printf", "echo", "mkdir")  # the other lines of a block that run: they write input files


@dataclass
class Example:
    source: str  # where a user reads it: "README.md:42" or "adaptx run --help"
    text: str  # the shell line(s) as written: continuations joined, a here-document kept
    argv: list[str] | None = None  # the adaptx arguments (None: another shell line of the block)
    simple: bool = True  # a single command (no pipe, redirection or here-document)

    @property
    def shown(self) -> str:
        return " ".join(self.text.split("\n", 1)[0].split())


@dataclass
class Block:
    source: str
    examples: list[Example] = field(default_factory=list)

    @property
    def mentions(self) -> str:
        return "\n".join(e.text for e in self.examples)


@dataclass
class Result:
    example: Example
    status: str  # ok | FAILED | parsed | skipped
    detail: str = ""
    seconds: float = 0.0


# -- finding the examples ------------------------------------------------------------------------

def _units(lines: list[tuple[int, str]], transcript: bool) -> list[tuple[int, str]]:
    """The commands of a block, each with its line number: continuation lines joined, a here-document's
    body kept; in a transcript (`$ ` prompts) only the prompted lines, never the output."""
    units, i = [], 0
    while i < len(lines):
        number, line = lines[i]
        i += 1
        if transcript:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        text = line
        while text.rstrip().endswith(("\\", "|")) and i < len(lines):
            text += "\n" + lines[i][1]
            i += 1
        if marker := HEREDOC.search(text):
            while i < len(lines):
                text += "\n" + lines[i][1]
                i += 1
                if lines[i - 1][1].strip() == marker.group(1):
                    break
        units.append((number, text))
    return units


def _segments(text: str) -> list[list[str]]:
    """A command line's words, split into its commands at pipes, redirections and separators."""
    command = text.split("\n", 1)[0] if HEREDOC.search(text) else text
    lexer = shlex.shlex(command.replace("<hash>", HASH).replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split, lexer.commenters = True, "#"
    segments: list[list[str]] = [[]]
    for word in lexer:
        if word and set(word) <= set("|&;<>()"):
            segments.append([])
        else:
            segments[-1].append(word)
    return [s for s in segments if s]


def _adaptx_argv(words: list[str]) -> list[str] | None:
    """The arguments after `adaptx` (or `python -m adaptx`, `accelerate launch ... -m adaptx`)."""
    if words[0] == "adaptx":
        return words[1:]
    for i in range(len(words) - 1):
        if words[i] == "-m" and words[i + 1] == "adaptx":
            return words[i + 2:]
    return None


def _example(source: str, text: str) -> Example:
    try:
        segments = _segments(text)
    except ValueError:  # unbalanced quotes: not a command line
        return Example(source, text)
    found = [argv for argv in map(_adaptx_argv, segments) if argv is not None]
    return Example(source, text, found[0] if found else None, simple=len(segments) == 1 and not HEREDOC.search(text))


def doc_blocks(page: Path) -> list[Block]:
    """The code blocks of a page that hold an adaptx command line."""
    blocks, lines, start, inside = [], [], 0, False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            if inside:
                transcript = any(text.startswith("$ ") for _, text in lines)
                name = page.relative_to(ROOT).as_posix()
                examples = [_example(f"{name}:{n}", text) for n, text in _units(lines, transcript)]
                if any(e.argv is not None for e in examples):
                    blocks.append(Block(f"{name}:{start}", examples))
            inside, lines, start = not inside, [], number
        elif inside:
            lines.append((number, line))
    return blocks


def help_blocks() -> list[Block]:
    """The examples section each help ends with (`adaptx --help`, `adaptx COMMAND --help`)."""
    from adaptx.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    blocks = []
    for name, target in [("adaptx --help", parser), *((f"adaptx {c} --help", p) for c, p in commands.items())]:
        epilog = (target.epilog or "").split("examples:\n", 1)
        if len(epilog) == 2:
            section = epilog[1].split("\n\n", 1)[0].splitlines()
            examples = [_example(name, text) for _, text in _units(list(enumerate(section)), False)]
            blocks.append(Block(name, examples))
    return blocks


def all_blocks() -> list[Block]:
    return [*help_blocks(), *(b for page in PAGES for b in doc_blocks(page))]


# -- what each example is ------------------------------------------------------------------------

def is_synopsis(example: Example) -> bool:
    """A usage line with placeholders (`adaptx run CONFIG [--out DIR]`), not a command to run."""
    segments = _segments(example.text)
    words = [w for segment in segments for w in segment]
    # `adaptx --help | --version`: an alternative after a bar, not a command the output is piped to
    return any(PLACEHOLDER.search(w) for w in words if w != "DATA") or any(s[0].startswith("-") for s in segments[1:])


def _command(argv: list[str]) -> tuple[str, str]:
    words = [w for w in argv if not w.startswith("-")]
    return (words + ["", ""])[0], (words + ["", ""])[1]


def _config(argv: list[str]):
    """The config a run/search/rank example reads, from its arguments (None for other commands)."""
    from adaptx.cli import build_parser, parse_command_line
    from adaptx.config import load_config
    from adaptx.shipped import resolve_config

    args = parse_command_line(build_parser(), argv)
    if args.command not in ("run", "search", "rank"):
        return None
    return load_config(resolve_config(args.config), list(args.overrides))


def kind(example: Example) -> str:
    """cheap (seconds: help, config, zoo, report, analyze) | heavy (loads a model or needs a trained
    run) | trains | network (needs the Hugging Face hub) | gpu (--device cuda...)."""
    argv = example.argv or []
    if not argv or {"-h", "--help", "--version"} & set(argv):
        return "cheap"
    command, action = _command(argv)
    if (command, action) in {("data", "pull"), ("zoo", "push"), ("zoo", "pull")}:
        return "network"
    if (command, action) == ("data", "verify") and not argv[-1].startswith("builtin:"):
        return "network"  # a folder only `adaptx data pull` writes (its manifest)
    if "--device" in argv[:-1] and argv[argv.index("--device") + 1].startswith("cuda"):
        return "gpu"
    if command in ("run", "search", "rank"):
        return "network" if _needs_hub(argv) else "heavy" if command == "rank" else "trains"
    if command in ("config", "report", "analyze") or (command == "zoo" and action in ("list", "show", "remove")) \
            or (command, action) == ("zoo", "verify") and "--rescore" not in argv:
        return "cheap"
    return "heavy"  # predict, rank, model export, zoo add (a trained stage), zoo export (the adapters library)


def _needs_hub(argv: list[str]) -> bool:
    """Whether a config reads its data or its base model from the hub (a config that does not load
    is parse_problem's to report)."""
    from adaptx.errors import AdaptxError

    try:
        with quietly():
            cfg = _config(argv)
    except (AdaptxError, SystemExit):
        return False
    return cfg.data.source == "hub" or not (cfg.base_model == "embedded" or Path(cfg.base_model).is_dir())


@contextmanager
def quietly():
    """Run adaptx in this process with its output kept in the buffer it yields."""
    buffer = io.StringIO()
    with redirect_stdout(buffer), redirect_stderr(buffer):
        yield buffer


@contextmanager
def inside(folder: Path):
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)


def parse_problem(example: Example, data: Path | None, folder: Path) -> str | None:
    """Why `adaptx` would refuse this example's arguments in `folder` (None: it accepts them): argparse,
    and for run/search/rank its config, resolved and loaded with its overrides."""
    from adaptx.errors import AdaptxError

    argv = [str(data or "data") if w == "DATA" else w.replace(HASH, "0123456789") for w in example.argv or []]
    with inside(folder), quietly() as said:
        try:
            _config(argv)
        except SystemExit as exit_:
            return None if exit_.code == 0 else f"refused by the command line: {said.getvalue().strip()[-300:]}"
        except AdaptxError as exc:
            return f"its config: {exc}"
    return None


# -- running them ----------------------------------------------------------------------------------

def python_command() -> str:
    return f"{shlex.quote(sys.executable)} -m adaptx"


def environment() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("ADAPTX_ZOO", None)  # ./adapter_zoo of the example's folder is the user's zoo, as for a user
    return env


def training_arguments(argv: list[str]) -> list[str]:
    """What --full adds to an example that trains: --smoke (and the example's own output folder, so
    that its next lines find it), or the smoke settings and one trial for a search, few rows for rank."""
    command, _ = _command(argv)
    if command == "rank":
        return ["--max-examples", "32", "--max-rows", "256"]
    if "--smoke" in argv:
        return []
    from adaptx.smoke import EVAL_ROWS, smoke_overrides

    with quietly():
        cfg = _config(argv)
    out = [] if "--out" in argv else ["--out", cfg.output_dir]
    if command == "run":
        return ["--smoke", *out]
    # smoke=true would make the next search into the folder a smoke run's, which refuses a folder without its mark
    smoke = [o for o in smoke_overrides(cfg) if not o.startswith(("output_dir=", "smoke="))]
    return [*out, *smoke, f"search.holdout_examples={EVAL_ROWS}", "--trials", "1"]  # the defaults' comparison too


def shell_line(example: Example, folder: Path, data: Path | None, extra: list[str]) -> str:
    """The example as the shell runs it in `folder`: adaptx through this interpreter, DATA and <hash>
    filled in, and `extra` arguments after adaptx's own."""
    text = example.text
    if "<hash>" in text:
        prefix = text.split("<hash>")[0].split()[-1]
        found = sorted(folder.glob(prefix + "*"))
        if not found:
            raise ValueError(f"no folder {prefix}<hash> here: the run it reads has no such stage")
        text = text.replace("<hash>", found[0].name.rsplit("-", 1)[1])
    if data is not None:
        text = re.sub(r"\bDATA\b", shlex.quote(str(data)), text)
    if extra:
        if not example.simple:
            raise ValueError(f"cannot add {' '.join(extra)} to a command that is not a single one")
        argv = _segments(text)[0]
        return " ".join([python_command(), shlex.join(_adaptx_argv(argv) + extra)])
    return re.sub(r"(?m)(^\s*|[|;&(]\s*)adaptx(?=\s|$)", lambda m: m.group(1) + python_command(), text)


def simulated_run(folder: Path) -> None:
    """A finished quickstart-like run folder (results, predictions, config) for report and analyze."""
    import numpy as np
    from sim_runs import item_correct, with_gain, write_run

    rng = np.random.default_rng(0)
    base = item_correct(rng, ["en", "de", "fr", "sw", "zh"], 60)
    gains = {("stack", "qqp"): 3, ("fuse", "qqp"): 2, ("full", "qqp"): 1, ("full-none", None): -1}
    rows = {("none", None): base, **{row: {lang: with_gain(rng, c, g) for lang, c in base.items()}
                                        for row, g in gains.items()}}
    write_run(folder, rows)


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


class Runner:
    """Runs blocks: `full` also runs what trains or loads a model; `data` is the reference data folder."""

    def __init__(self, full: bool = False, data: Path | None = None, keep: bool = False):
        self.full, self.data, self.keep = full, data, keep
        self.mode = "full" if full else "default"
        self._real_run: Path | None = None

    def run_block(self, block: Block) -> list[Result]:
        folder = Path(tempfile.mkdtemp(prefix="adaptx-example-"))
        if self.keep:
            print(f"  (in {folder})")
        try:
            self._prepare(block, folder)
            results: list[Result] = []
            not_run = ""
            for example in block.examples:
                result = self._one(example, folder)
                if result.status == "FAILED" and not_run and not self.full:
                    result = Result(example, "skipped", f"after {not_run}, which this mode does not run "
                                                        f"(it may need what that makes): {result.detail[-200:]}")
                if example.argv is not None and result.status in ("skipped", "parsed") and not not_run:
                    not_run = example.shown
                results.append(result)
            return results
        finally:
            if not self.keep:
                shutil.rmtree(folder, ignore_errors=True)

    def _one(self, example: Example, folder: Path) -> Result:
        if example.argv is None:  # another line of the block: run as written if it writes an input file
            if example.text.split()[0] in SHELL_SETUP:
                return self._shell(example, folder, [])
            return Result(example, "skipped", "not an adaptx command line, nor one that writes an input file")
        if is_synopsis(example):
            return Result(example, "skipped", "a synopsis with placeholders")
        if problem := parse_problem(example, self.data, folder):
            return Result(example, "FAILED", problem)
        if re.search(r"\bpip install\b", example.text):
            return Result(example, "parsed", "installs adaptx: these examples run the adaptx this Python imports")
        if self.data is None and (re.search(r"\bDATA\b", example.text) or "data/hub" in example.text):
            return Result(example, "skipped", "needs the reference data folder (--data DIR or "
                                              "$ADAPTX_EXAMPLES_DATA); none found")
        with inside(folder):  # a config an earlier line wrote is read from there
            what = kind(example)
        if what == "network":
            return Result(example, "parsed", "needs the Hugging Face hub; parsed only")
        if what == "gpu" and not (self.full and _has_gpu()):
            return Result(example, "parsed", "needs a CUDA GPU; parsed only")
        if what != "cheap" and not self.full:
            return Result(example, "parsed", f"{what}: run with --full (ADAPTX_SLOW_TESTS=1)")
        with inside(folder):
            extra = training_arguments(example.argv) if _command(example.argv)[0] in ("run", "search", "rank") else []
        return self._shell(example, folder, extra)

    def _shell(self, example: Example, folder: Path, extra: list[str]) -> Result:
        started = time.time()
        try:
            line = shell_line(example, folder, self.data, extra)
            done = subprocess.run(["bash", "-c", line], cwd=folder, env=environment(), capture_output=True,
                                  text=True, timeout=TIMEOUT[self.mode])
        except (ValueError, subprocess.TimeoutExpired) as exc:
            return Result(example, "FAILED", str(exc), time.time() - started)
        seconds = time.time() - started
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip())[-1500:]
            return Result(example, "FAILED", f"exit {done.returncode}: {said}", seconds)
        return Result(example, "ok", "", seconds)

    def _prepare(self, block: Block, folder: Path) -> None:
        """What the examples of a block read that a user has made before: runs/quickstart, an input
        file, the data folder `adaptx data pull --out data/hub` writes."""
        text = block.mentions
        if self.data is not None and "data/hub" in text:
            (folder / "data").mkdir()
            (folder / "data" / "hub").symlink_to(self.data, target_is_directory=True)
        if "mine.jsonl" in text:
            (folder / "mine.jsonl").write_text(NLI_ROWS, encoding="utf-8")
        if QUICKSTART_RUN.search(text) and not self._makes_quickstart_first(block):
            if self.full:
                shutil.copytree(self._real_quickstart(), folder / "runs" / "quickstart", copy_function=os.link)
            else:
                simulated_run(folder / "runs" / "quickstart")

    def _makes_quickstart_first(self, block: Block) -> bool:
        """With --full, whether a quickstart run into runs/quickstart comes before any line reading it."""
        from adaptx.shipped import shipped_name

        for example in block.examples:
            argv = example.argv or []
            if self.full and _command(argv)[0] == "run" and "--smoke" not in argv and "--out" not in argv \
                    and shipped_name(_command(argv)[1]) == "quickstart":
                return True
            if QUICKSTART_RUN.search(example.text):
                return False
        return False

    def close(self) -> None:
        """Remove the shared quickstart run (--full), unless --keep."""
        if self._real_run is not None and not self.keep:
            shutil.rmtree(self._real_run.parents[1], ignore_errors=True)
            self._real_run = None

    def _real_quickstart(self) -> Path:
        """`adaptx run quickstart --smoke`, made once and shared (hard links) by the folders that read it."""
        if self._real_run is None:
            home = Path(tempfile.mkdtemp(prefix="adaptx-example-quickstart-"))
            done = subprocess.run([sys.executable, "-m", "adaptx", "run", "quickstart", "--smoke", "--out",
                                   "runs/quickstart"], cwd=home, env=environment(), capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"the quickstart smoke run the examples read failed: {done.stderr[-1500:]}")
            self._real_run = home / "runs" / "quickstart"
        return self._real_run


def data_folder(given: str | None) -> Path | None:
    for candidate in (given, os.environ.get("ADAPTX_EXAMPLES_DATA"), DEFAULT_DATA):
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also run what trains or loads a model (slow)")
    parser.add_argument("--data", help="the reference data folder (DATA, data/hub)")
    parser.add_argument("--match", help="only the blocks where this regular expression finds a line")
    parser.add_argument("--list", action="store_true", help="list the examples and what they are; run nothing")
    parser.add_argument("--keep", action="store_true", help="keep each block's folder (printed)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # sim_runs
    blocks = [b for b in all_blocks() if not args.match or re.search(args.match, b.mentions)]
    runner = Runner(args.full, data_folder(args.data), args.keep)
    print(f"adaptx from {__import__('adaptx').__file__}; data: {runner.data or 'none'}; mode: {runner.mode}")
    failed = 0
    try:
        for block in blocks:
            failed += _report(runner, block, args.list)
    finally:
        runner.close()
    print(f"\n{failed} failed")
    return 1 if failed else 0


def _report(runner: Runner, block: Block, list_only: bool) -> int:
    """Run (or with list_only, list) one block's examples, one line each; returns how many failed."""
    print(f"\n{block.source}")
    if list_only:
        for e in block.examples:
            what = "shell" if e.argv is None else "synopsis" if is_synopsis(e) else kind(e)
            print(f"  {what:9} {e.shown}")
        return 0
    failed = 0
    for result in runner.run_block(block):
        failed += result.status == "FAILED"
        print(f"  {result.status:8} {result.seconds:6.1f}s  {result.example.source}: {result.example.shown}", flush=True)
        if result.detail and result.status != "ok":
            print("           " + result.detail.replace("\n", "\n           "))
    return failed


if __name__ == "__main__":
    sys.exit(main())
