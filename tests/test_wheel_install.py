"""The built wheel, installed into a fresh venv outside the checkout, carries the shipped zoo and configs:
from an empty folder, `adaptx zoo list` lists the three shipped entries, `zoo show` verifies one from
inside the installed package, and `adaptx run quickstart --smoke` (a shipped config by name) runs.

Offline and quick: the wheel is built without build isolation from a copy of the sources (the
working tree gets no build/ folder), and the fresh venv sees this environment's packages through a
.pth file naming its site-packages, so `pip install --no-deps --no-index WHEEL` is all it installs.
A plain path in a .pth file is not a site folder: this environment's own .pth files (its editable
adaptx among them) are not read there, so `import adaptx` finds the wheel's copy (checked)."""

import importlib.metadata
import importlib.util
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from shipped_zoo import SHIPPED, shipped_card

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "adaptx", "configs", "adapter_zoo"]


def _build_tools_missing() -> str | None:
    try:
        version = importlib.metadata.version("setuptools")  # not imported: it would replace distutils here
    except importlib.metadata.PackageNotFoundError:
        return "setuptools is not installed (the wheel is built without build isolation)"
    if int(version.split(".")[0]) < 77:
        return f"setuptools {version} is older than pyproject.toml's build requirement (>=77)"
    if importlib.util.find_spec("pip") is None:
        return "pip is not installed"
    return None


def _run(argv, cwd, env, timeout=120):
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv with the wheel installed, its environment, an empty working folder)."""
    missing = _build_tools_missing()
    if missing:
        pytest.skip(f"cannot build the wheel here: {missing}")
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("ADAPTX_ZOO", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               ADAPTX_HOME=str(root / "home"), TQDM_DISABLE="1")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", ".", "-w",
          str(root / "dist")], src, env)
    (wheel,) = (root / "dist").glob("adaptx-*.whl")

    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    own_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], root, env)
                    .strip())
    (own_site / "outer-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
          str(wheel)], root, env)
    work = root / "work"
    work.mkdir()
    where = _run([str(python), "-c", "import adaptx; print(adaptx.__file__)"], work, env).strip()
    assert Path(where).is_relative_to(root / "venv"), f"adaptx imported from {where}, not the installed wheel"
    return python, env, work, Path(where).parent


def test_the_installed_wheel_lists_and_verifies_the_shipped_zoo_from_any_folder(installed):
    python, env, work, package = installed
    assert sorted(p.name for p in (package / "_zoo").iterdir() if p.is_dir()) == SHIPPED
    listed = _run([str(python), "-m", "adaptx", "zoo", "list"], work, env)
    for name in SHIPPED:
        assert f"| {name} | {shipped_card(name)['version']} | intermediate |" in listed
    assert f"shipped zoo: {package / '_zoo'}" in listed and "| shipped |" in listed
    shown = _run([str(python), "-m", "adaptx", "zoo", "show", "qqp-e5small-s0"], work, env)
    assert "verified, every file matches its card" in shown
    assert _run([str(python), "-m", "adaptx", "zoo", "verify", "--zoo", str(package / "_zoo")], work, env).strip() \
        .endswith(f"{len(SHIPPED)} entries checked, 0 problems")
    assert "quickstart" in _run([str(python), "-m", "adaptx", "config", "list"], work, env)
    assert list(work.iterdir()) == []  # reading the shipped zoo writes nothing where it runs


def test_the_installed_wheel_runs_a_shipped_config_by_name(installed, tiny_model_dir):
    python, env, work, _ = installed
    # zoo_adapters={}: the shipped QQP adapter fits only the embedded base, so a tiny run trains its own
    out = _run([str(python), "-m", "adaptx", "-q", "run", "quickstart", "--smoke", f"base_model={tiny_model_dir}",
                "zoo_adapters={}", "strategies=[none, stack]", "max_seq_length=16"], work, env, timeout=300)
    results = work / "runs" / "quickstart-smoke" / "results.md"
    assert results.is_file(), out
    assert "SMOKE RUN" in results.read_text()
