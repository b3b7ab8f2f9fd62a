"""One build step pyproject.toml cannot say: the top-level configs/ folder ships inside the package
as adaptx/_configs, copied at build time (no second copy in the repository, no symlink), so an
installed adaptx runs `adaptx run quickstart` from any folder. adaptx.shipped reads adaptx/_configs,
or configs/ itself in a source checkout. Everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONFIGS = Path(__file__).resolve().parent / "configs"


class build_py_with_configs(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "adaptx" / "_configs"
        for path in sorted(CONFIGS.rglob("*")) if CONFIGS.is_dir() else []:
            if path.is_file() and path.suffix in (".yaml", ".md"):
                out = target / path.relative_to(CONFIGS)
                self.mkpath(str(out.parent))
                self.copy_file(str(path), str(out))


setup(cmdclass={"build_py": build_py_with_configs})
