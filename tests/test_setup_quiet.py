"""Building kconvert as pip does on a fresh machine (``./dev.sh``'s install, or ``pip install``)
says nothing, and the wheel carries every file the package reads at run time (issue 31).

The harness directories (``tfjs_harness/``, ``dl4j_harness/``) are data, not packages: setuptools
warns about data under importable directories it is told to include wholesale, so it is told
file by file (setup.cfg's ``package_data``) and these tests catch a file that is not.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import in_ci

ROOT = Path(__file__).resolve().parents[1]
#: what the build reads; the package minus what installs and builds leave beside the sources
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "schemas", "kconvert")
LEFT_BESIDE = shutil.ignore_patterns("node_modules", "target", "__pycache__", "*.pyc")
NOISE = re.compile(r"warn|deprecat", re.IGNORECASE)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean copy of what the build reads."""
    source = tmp_path_factory.mktemp("setup") / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=LEFT_BESIDE)
        else:
            shutil.copy2(path, source / name)
    return source


def pip(*args: str) -> str:
    """pip's output for ``args``, run as a user's install is: with build isolation, pip fetching the
    build backend that pyproject.toml asks for."""
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        if not in_ci() and re.search(r"No matching distribution|Could not find a version", output):
            pytest.skip("pip cannot fetch setuptools here (no package index and none cached)")
        pytest.fail(f"pip {' '.join(args)} failed:\n{output}")
    return output


@pytest.fixture(scope="module")
def built(source: Path) -> tuple[str, Path, Path]:
    """pip's output for building a wheel from the clean copy, the wheel, the copy."""
    output = pip("wheel", "--no-deps", "-w", str(source.parent / "wheel"), str(source))
    return output, next((source.parent / "wheel").glob("kconvert-*.whl")), source


def test_building_prints_no_warnings(built: tuple[str, Path, Path]) -> None:
    output, _, _ = built
    assert [line for line in output.splitlines() if NOISE.search(line)] == []


def test_an_editable_install_as_dev_sh_makes_prints_nothing(source: Path) -> None:
    venv = source.parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    assert pip("--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-deps", "-e", str(source)) == ""


def test_the_wheel_holds_every_file_of_the_package_and_the_schemas(built: tuple[str, Path, Path]) -> None:
    _, wheel, source = built
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    package = {p.relative_to(source).as_posix() for p in (source / "kconvert").rglob("*") if p.is_file()}
    schemas = {f"share/kconvert/schemas/{p.name}" for p in (source / "schemas").glob("*.schema.json")}
    assert package - names == set()
    assert {name for name in schemas if not any(n.endswith("/data/" + name) for n in names)} == set()
    # what the runtime reads beside the code, should the walk above ever come up empty
    for needed in ("kconvert/verification/tfjs_harness/predict.js", "kconvert/writers/tfjs/companion/kconvert-layers.js",
                   "kconvert/verification/dl4j_harness/pom.xml", "kconvert/pretrained/imagenet_classes.tsv"):
        assert needed in names
