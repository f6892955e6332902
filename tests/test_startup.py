"""The command starts fast and speaks only for itself: what a start imports, and what reaches
stderr.  Each case runs in a fresh interpreter, since this one has imported everything already.
(How fast is measured by bench/startup.py, not here.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kconvert.runtime.quiet_start import NATIVE_LOG
from tests.conftest import GENERATED

KCONVERT = Path(sys.executable).with_name("kconvert")
HEAVY = ("numpy", "h5py", "tensorflow", "keras", "jsonschema", "yaml")

IMPORTED_BY = """
import json, sys
from kconvert.cli import main
try:
    main(sys.argv[1:], prog_name="kconvert")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def heavy_modules_after(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", IMPORTED_BY.format(heavy=HEAVY), *args], capture_output=True,
                          text=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"], ["convert", "--help"], ["check", "--help"],
                                  ["verify", "--help"], ["nonexistent.h5", "out", "--to", "nowhere"]])
def test_help_version_and_usage_errors_import_nothing_heavy(args: list[str]) -> None:
    assert heavy_modules_after(*args) == []


def test_formats_does_not_start_tensorflow() -> None:
    assert "tensorflow" not in heavy_modules_after("formats")


def test_reading_a_model_imports_what_it_needs_and_no_tensorflow() -> None:
    imported = heavy_modules_after("inspect", str(GENERATED / "tfkeras" / "mlp.h5"))
    assert {"h5py", "numpy"} <= set(imported) and "tensorflow" not in imported


def test_the_package_names_resolve_lazily() -> None:
    script = ("import kconvert, json; names = [n for n in kconvert.__all__ if not hasattr(kconvert, n)];"
              "kconvert.summary_dict; print(json.dumps([names, callable(kconvert.summary), "
              "'imagenet' in dir(kconvert), kconvert.imagenet.__name__]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert json.loads(done.stdout) == [[], True, True, "kconvert.pretrained.imagenet"]


def test_running_a_model_leaves_no_tensorflow_lines_on_stderr(tmp_path: Path) -> None:
    """TensorFlow's native start-up lines (absl, oneDNN, CUDA probing) are not kconvert's to show,
    unless --verbose asks."""
    command = [str(KCONVERT), str(GENERATED / "tfkeras" / "mlp.h5"), "--to", "dl4j", "--verify"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    quiet = subprocess.run([*command, str(tmp_path / "a")], capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "PASSED" in quiet.stdout
    assert not [line for line in quiet.stderr.splitlines() if NATIVE_LOG.match(line)
                or re.search(r"absl|cuda|cuInit|oneDNN|tensorflow", line, re.IGNORECASE)], quiet.stderr

    verbose = subprocess.run([*command, str(tmp_path / "b"), "--verbose"], capture_output=True, text=True,
                             timeout=300, env=env)
    assert verbose.returncode == 0
    native = [line for line in verbose.stderr.splitlines() if NATIVE_LOG.match(line)]
    if not native:
        pytest.skip("this TensorFlow build logs nothing natively at start-up here: the filter has nothing to hide")
    assert len(native) >= 1


def test_the_filter_passes_on_what_is_not_native_logging() -> None:
    script = """
import os, sys
from kconvert.runtime.quiet_start import native_log_hidden
with native_log_hidden():
    os.write(2, b"I0000 00:00:1796396842.756326    4012 port.cc:153] oneDNN custom operations are on.\\n")
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
    os.write(2, b"E1204 16:01:02.345678   77 cuda_platform.cc:52] failed call to cuInit\\n")
    print("a real problem", file=sys.stderr)
    os.write(2, b"I0000 is not a log line\\n")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""})
    assert done.stderr == "a real problem\nI0000 is not a log line\n"
