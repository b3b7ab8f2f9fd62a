"""One build step pyproject.toml cannot say: the top-level configs/ and adapter_zoo/ folders ship
inside the package as adaptx/_configs and adaptx/_zoo, copied at build time (no second copy in the
repository, no symlink), so an installed adaptx runs `adaptx run quickstart` and resolves the shipped
`zoo:NAME` entries from any folder. adaptx.shipped reads them there, or configs/ and adapter_zoo/
themselves in a source checkout. Everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# source folder -> (folder inside the package, file suffixes it ships): nothing else is copied, so a
# stray pickle or a hidden work folder of `adaptx zoo add` (.add-*) never reaches a wheel
SHIPPED = {"configs": ("_configs", (".yaml", ".md")),
           "adapter_zoo": ("_zoo", (".json", ".safetensors", ".md"))}


def shipped_files(source: Path, suffixes):
    for path in sorted(source.rglob("*")) if source.is_dir() else []:
        rel = path.relative_to(source)
        if path.is_file() and path.suffix in suffixes and not any(p.startswith(".") for p in rel.parts):
            yield rel


class build_py_with_shipped(build_py):
    def run(self):
        super().run()
        for name, (inside, suffixes) in SHIPPED.items():
            target = Path(self.build_lib) / "adaptx" / inside
            for rel in shipped_files(ROOT / name, suffixes):
                self.mkpath(str((target / rel).parent))
                self.copy_file(str(ROOT / name / rel), str(target / rel))


setup(cmdclass={"build_py": build_py_with_shipped})
