"""The JVM is given only a checked copy of a Deeplearning4j zip: no Java-serialized member ever reaches
``ObjectInputStream.readObject``, and no configuration names a class outside Deeplearning4j and ND4J.

The serialized member is made live first: Deeplearning4j given the zip as it is deserializes it
(and fails on what it finds), so that the same zip passing through kconvert proves the member
never reached the JVM.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

import kconvert
from kconvert.errors import ForeignCodeError, InputReadError
from kconvert.formats.dl4j import COEFFICIENTS, CONFIGURATION
from kconvert.verification import dl4j_runner
from kconvert.verification.dl4j_staging import MEMBERS, staged_zip
from tests.conftest import require_dl4j
from tests.helpers import raises_exactly, write_small_h5
from tests.hostile import assert_refused, assert_untouched, run_command, snapshot

#: writes a Java-serialized ArrayList, an object ModelSerializer casts to DataSetPreProcessor (and fails on)
SERIALIZER = """
import java.io.*;
public class Serialize {
    public static void main(String[] args) throws Exception {
        try (ObjectOutputStream out = new ObjectOutputStream(new FileOutputStream(args[0]))) {
            out.writeObject(new java.util.ArrayList<String>(java.util.List.of("kconvert")));
        }
    }
}
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model written to DL4J by kconvert: its output directory."""
    tmp = tmp_path_factory.mktemp("export")
    kconvert.convert(write_small_h5(tmp / "model.h5"), "dl4j", tmp / "out")
    return tmp


def _with_members(zip_path: Path, target: Path, extra: dict[str, bytes], config: bytes | None = None) -> Path:
    """A copy of ``zip_path`` at ``target`` with ``extra`` members added and the configuration replaced."""
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(target, "w") as out:
        for info in src.infolist():
            out.writestr(info, config if config is not None and info.filename == CONFIGURATION else src.read(info))
        for name, data in extra.items():
            out.writestr(name, data)
    return target


def _serialized(tmp: Path) -> bytes:
    (tmp / "Serialize.java").write_text(SERIALIZER)
    subprocess.run(["java", str(tmp / "Serialize.java"), str(tmp / "object.ser")], check=True, capture_output=True)
    return (tmp / "object.ser").read_bytes()


def _foreign_config(zip_path: Path) -> bytes:
    """The zip's configuration with one layer's updater naming a class outside DL4J."""
    with zipfile.ZipFile(zip_path) as z:
        config = json.loads(z.read(CONFIGURATION))
    config["confs"][0]["layer"]["iupdater"] = {"@class": "com.example.Gadget"}  # kconvert reads no updater
    return json.dumps(config).encode()


def test_the_copy_holds_only_what_inference_reads(exported: Path, tmp_path: Path) -> None:
    dirty = _with_members(exported / "out" / "model.zip", tmp_path / "dirty.zip",
                          {"preprocessor.bin": b"\xac\xed\x00\x05", "normalizer.bin": b"x", "notes.txt": b"x"})
    staged = staged_zip(dirty, tmp_path / "staged.zip")
    with zipfile.ZipFile(staged) as z, zipfile.ZipFile(dirty) as original:
        assert set(z.namelist()) <= set(MEMBERS) and {CONFIGURATION, COEFFICIENTS} <= set(z.namelist())
        assert all(z.read(name) == original.read(name) for name in z.namelist())


def test_a_class_outside_dl4j_is_refused_naming_where(exported: Path, tmp_path: Path) -> None:
    zip_path = exported / "out" / "model.zip"
    foreign = _with_members(zip_path, tmp_path / "foreign.zip", {}, _foreign_config(zip_path))
    raises_exactly(ForeignCodeError, lambda: staged_zip(foreign, tmp_path / "staged.zip"), "foreign.zip",
                   "/confs/0/layer/iupdater/@class", "com.example.Gadget")


def test_an_unreadable_zip_is_that_models_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    raises_exactly(InputReadError, lambda: staged_zip(broken, tmp_path / "staged.zip"), "broken.zip")


def test_a_serialized_member_never_reaches_the_jvm(exported: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    require_dl4j()
    dirty = _with_members(exported / "out" / "model.zip", tmp_path / "dirty.zip",
                          {"preprocessor.bin": _serialized(tmp_path)})
    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    clean, = dl4j_runner.run_dl4j_many([(dirty, [x], [])])
    with monkeypatch.context() as m:  # the live proof: DL4J given the zip itself deserializes the member
        m.setattr(dl4j_runner, "_stage", lambda spec, staged: None)
        raw, = dl4j_runner.run_dl4j_many([(dirty, [x], [])])
    assert raw.error and "DataSetPreProcessor" in raw.error, raw.error
    assert clean.error is None, clean.error
    with kconvert.load(exported / "model.h5") as model:
        np.testing.assert_allclose(clean.outputs[0], kconvert.run(model, [x])[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("command", ["verify", "check"])
def test_commands_refuse_a_foreign_class_before_the_jvm_starts(command: str, exported: Path, tmp_path: Path) -> None:
    zip_path = exported / "out" / "model.zip"
    target = tmp_path / "target"
    target.mkdir()
    _with_members(zip_path, target / "model.zip", {}, _foreign_config(zip_path))
    before = snapshot(tmp_path)
    args = (["verify", exported / "model.h5", "--target", target / "model.zip", "--no-keras"] if command == "verify"
            else ["check", target / "model.zip", "--source", exported / "model.h5"])
    outcome = run_command(args, tmp_path)
    assert_refused(outcome, "model.zip", "com.example.Gadget", codes=(3,))
    assert_untouched(tmp_path, before)
