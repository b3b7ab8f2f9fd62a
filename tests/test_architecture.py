"""The house rules of the package's layout, read from its source (nothing imported or run):
no import cycles among adaptx modules (function-level imports count), a thin pipeline.py, no
oversized class or function, and the run folder's layout spelled in adaptx/run_folder.py only.
A cycle or a 600-line class comes back quietly; these tests say so."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "adaptx"
MAX_PIPELINE_LINES = 400
MAX_CLASS_LINES = 250
MAX_FUNCTION_LINES = 100
# the run folder's names that only adaptx/run_folder.py spells: every other module asks it where they are
RUN_FOLDER_NAMES = frozenset({"stages", "manifest.json", "metrics.json", "setup.json", "config.yaml", "results.json"})
PATH_LIKE = re.compile(r"[\w.*{}/-]+")  # a literal that can be a path or a part of one (no spaces: not a message)
# spellings left to modules other helpers are reworking (issue 33); each goes once its module asks run_folder
PENDING_SPELLINGS = {
    "modeling.py": {"setup.json"},  # saves and loads a model's setup.json (compositions rework)
    "pipeline.py": {"config.yaml"},  # writes the run's config.yaml (RunFolder.config_file)
    "smoke.py": {"config.yaml"},  # reads an earlier smoke run's config.yaml (run config moves out of smoke.py)
    "search.py": {"config.yaml"},  # writes a trial's config.yaml (search split into storage/workers/objective)
}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The adaptx modules a module imports anywhere in its body (module level or inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: climb level-1 packages up from the module's own package
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names |= {source} | {f"{source}.{alias.name}" for alias in node.names}  # `from . import x` names a module
    # a submodule importing its own package's __init__ (which only re-exports) is not a dependency
    return {n for n in names & known if n != module and not module.startswith(n + ".")}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, set(modules)) for name, path in modules.items()}


def test_the_cycle_finder_finds_cycles():
    """The check can fail: a made-up graph with one cycle of three and a tail."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_function_level_and_relative_imports():
    graph = _graph()
    assert "adaptx.config" in graph["adaptx.pipeline"]  # module level, relative
    assert "adaptx.kinds.base" in graph["adaptx.kinds.classification"]
    assert len(graph) > 30 and sum(map(len, graph.values())) > 100


def test_no_import_cycles_among_adaptx_modules():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def _definitions(kind):
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, kind):
                yield f"{name}.{node.name}", node.end_lineno - node.lineno + 1


def test_pipeline_stays_a_thin_composition_root():
    lines = len((PACKAGE / "pipeline.py").read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_PIPELINE_LINES, f"pipeline.py has {lines} lines (at most {MAX_PIPELINE_LINES})"


def test_no_oversized_class_or_function():
    classes = {name: n for name, n in _definitions(ast.ClassDef) if n > MAX_CLASS_LINES}
    functions = {name: n for name, n in _definitions((ast.FunctionDef, ast.AsyncFunctionDef))
                 if n > MAX_FUNCTION_LINES}
    assert not classes, f"classes over {MAX_CLASS_LINES} lines: {classes}"
    assert not functions, f"functions over {MAX_FUNCTION_LINES} lines: {functions}"


def _layout_spellings(source: str) -> list[tuple[int, str]]:
    """(line, literal) of every string literal that names a run-folder file or the stages folder, as a
    whole or as a part of a path ("stages/", "search/*/trials/*/config.yaml"). Prose (a docstring, an
    error message: it has spaces) and the keys of dicts and subscripts (a JSON field "stages") are not
    paths."""
    tree = ast.parse(source)
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys |= {id(key) for key in node.keys if key is not None}
        elif isinstance(node, ast.Subscript):
            keys.add(id(node.slice))
    return sorted((node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in keys
                  and PATH_LIKE.fullmatch(node.value) and RUN_FOLDER_NAMES & set(node.value.split("/")))


def test_the_layout_scan_finds_a_planted_offender():
    """The check can fail: a module opening a manifest by name, or building a stages/ path, is found;
    prose and JSON field names are not."""
    planted = """
\"\"\"Reads manifest.json and metrics.json of every stage (a docstring: prose).\"\"\"
def done(folder, run, stage):
    manifest = json.loads((folder / "manifest.json").read_text())
    setup = folder / "model/setup.json"
    first = sorted(run.glob("search/*/trials/*/config.yaml"))
    record = {"stages": [stage], "config": attrs["stages"]}
    if not (run / "results.json").is_file():
        raise AdaptxError(f"{run}: no results.json; run it first")
    return run / f"stages/{stage}" / STAGES
"""
    assert _layout_spellings(planted) == [(4, "manifest.json"), (5, "model/setup.json"),
                                          (6, "search/*/trials/*/config.yaml"), (8, "results.json"), (10, "stages/")]


def test_only_run_folder_spells_the_run_folder_layout():
    """A module that opens a stage's manifest, metrics or setup (or a run's config or results) by name, or
    spells the stages folder, asks adaptx.run_folder instead: a layout change then touches one module."""
    found, pending = {}, {}
    for name, path in _modules().items():
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "run_folder.py":
            continue
        for line, literal in _layout_spellings(path.read_text(encoding="utf-8")):
            names = RUN_FOLDER_NAMES & set(literal.split("/"))
            if names <= PENDING_SPELLINGS.get(relative, set()):
                pending.setdefault(relative, set()).update(names)
            else:
                found.setdefault(f"{relative}:{line}", literal)
    assert not found, f"run-folder names spelled outside adaptx/run_folder.py (ask RunFolder/StageFolder): {found}"
    stale = {module: names - pending.get(module, set()) for module, names in PENDING_SPELLINGS.items()
             if names - pending.get(module, set())}
    assert not stale, f"no longer spelled there: drop them from PENDING_SPELLINGS: {stale}"
