"""Malformed and hostile inputs that the corpus (tests/fixtures/bad/, tests/test_bad_corpus.py)
cannot hold: a FIFO, a file changed under a loaded model, the installed command in a process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException as Incompatible
from tests.conftest import ROOT
from tests.fixtures.bad import make_bad_corpus
from tests.fixtures.bad.make_bad_corpus import KERNEL, replace_kernel
from tests.helpers import raises_exactly, write_small_h5

CORPUS_CASES = {e["name"]: e for e in json.loads(make_bad_corpus.MANIFEST.read_text())["cases"]}


def test_the_external_link_target_is_never_opened(tmp_path: Path) -> None:
    """The target is a FIFO: opening it blocks (h5py holds the GIL meanwhile) until a writer comes,
    so a load that tried to follow the link would hang; it runs in a child process with a timeout."""
    target = tmp_path / "fifo.h5"
    os.mkfifo(target)
    path = write_small_h5(tmp_path / "model.h5")
    with h5py.File(path, "a") as f:
        replace_kernel(lambda f: f.__setitem__(KERNEL, h5py.ExternalLink(str(target), "/x")))(f)
    code = ("import sys, kconvert\n"
            "try:\n    kconvert.load(sys.argv[1])\n"
            "except kconvert.KConvertError as exc:\n    print(type(exc).__name__, exc)\n")
    try:
        result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                                timeout=30, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("kconvert opened the external link's target file")
    assert result.stdout.startswith("InputReadError ") and "external link" in result.stdout, result.stderr


def test_a_weight_replaced_after_loading_is_checked_when_read(tmp_path: Path) -> None:
    """Weights are read lazily: a file changed under a loaded model fails with a typed error."""
    path = write_small_h5(tmp_path / "model.h5")
    m = kconvert.load(str(path))
    m.close()
    with h5py.File(path, "a") as f:
        del f[KERNEL]
        f[KERNEL] = np.zeros((2, 2), dtype="float32")
    kernel = dict(m.iter_weights())["dense_0/kernel"]
    raises_exactly(Incompatible, kernel.numpy, str(path), "kernel:0", "(2, 2)", "expected (4, 3)")


def test_the_error_context_keeps_the_innermost_details() -> None:
    err = Incompatible("bad value", key="units").with_context(file="m.h5", layer="d", layer_class="Dense", key="x")
    assert str(err) == "m.h5: layer 'd' (Dense): key 'units': bad value"
    assert err.to_dict()["message"] == str(err)
    assert str(Incompatible("two\nlines")) == "two lines"


# -- the command line ---------------------------------------------------------------------------------

KCONVERT = Path(sys.executable).with_name("kconvert")


def test_a_message_quotes_a_bounded_part_of_what_a_file_holds() -> None:
    """One place shortens every message, whatever value or name a call site quotes."""
    value = list(range(300_000))
    err = Incompatible(f"got {value!r} where a number goes", file="f.json", layer="x" * 5000, key="k")
    message = str(err)
    assert len(message) < 1200 and "\n" not in message
    assert message.startswith("f.json: layer 'xxx") and "where a number goes" in message  # head and tail
    assert f"({len(repr(value)) + 24 - 600} characters elided)" in message
    assert err.to_dict()["reason"] == err.reason and len(err.reason) < 700
    short = Incompatible("a short reason", layer="dense")
    assert str(short) == "layer 'dense': a short reason"


@pytest.mark.parametrize("name,code", [("hdf5_signature_then_garbage", 3), ("external_link_to_a_valid_file", 3),
                                       ("unknown_layer_class", 4), ("weights_with_a_different_layer_count", 4),
                                       ("output_directory_occupied", 2)])
def test_cli_prints_one_line_and_exits_with_the_documented_code(name: str, code: int, tmp_path: Path) -> None:
    """The installed command in a real process (test_bad_corpus drives every case through click)."""
    entry = CORPUS_CASES[name]
    here = tmp_path / name
    shutil.copytree(make_bad_corpus.CORPUS / name, here)
    args = [str(KCONVERT), "inspect", entry["source"]] if entry["action"] == "load" else \
        [str(KCONVERT), entry["source"], "--to", *entry["action"].split(":")[1:]]
    if entry["weights"]:
        args += ["--weights", entry["weights"]]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=here)
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kconvert: error: "), result.stderr
    assert entry["source"] in lines[0] or code == 2
    assert "Traceback" not in result.stderr and all(f in lines[0] for f in entry["fragments"])


@pytest.mark.parametrize("make", ["external link", "shape bomb", "malformed attribute"])
def test_an_inputs_file_is_read_as_safely_as_a_model(make: str, tmp_path: Path) -> None:
    """``verify --inputs`` files come from the same untrusted places as models."""
    model = write_small_h5(tmp_path / "model.h5")
    inputs = tmp_path / "model_inputs_and_outputs.h5"
    with h5py.File(inputs, "w") as f:
        if make == "external link":
            f["inputs/input"] = h5py.ExternalLink("elsewhere.h5", "/x")
        elif make == "shape bomb":
            f.create_dataset("inputs/input", shape=(2, 1 << 30), dtype="float32", chunks=(1, 1 << 20))
        else:
            f["inputs/input"] = np.zeros((2, 4), "float32")
            f.attrs["inputs"] = '{"names": 3}'
    fragment = {"external link": "external link", "shape bomb": "shape bomb", "malformed attribute": "'inputs'"}[make]
    raises_exactly(kconvert.InputReadError, lambda: kconvert.verify(str(model), inputs=str(inputs), keras="never"),
                   str(inputs), fragment)


def test_a_crash_of_the_work_becomes_a_one_line_error(tmp_path: Path) -> None:
    """Whatever kills the command's child process with a fatal signal (a C library on a crafted
    file), the command reports the input as unreadable; other exit codes pass through."""
    model = write_small_h5(tmp_path / "model.h5")
    code = ("import os, signal, sys\nimport kconvert.cli as cli\n"
            "cli.main = lambda **_: os.kill(os.getpid(), signal.SIGSEGV)\n"
            "sys.argv = ['kconvert', 'inspect', sys.argv[1]]\ncli.entry()\n")
    result = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=60,
                            cwd=ROOT)
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [f"kconvert: error: {model}: reading it crashed a C library (SIGSEGV): "
                                          "the file is corrupt or crafted"]
