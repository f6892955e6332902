"""Nothing in a model file runs: live payloads that create a marker file when executed.

Each payload is first run by the tool that would run it (``yaml.unsafe_load``, ``marshal`` plus a
call, ``pickle.loads``) in a child process, to prove it is live: the marker appears.  Then kconvert
reads, converts and verifies files carrying it, through the API and the installed command, and
the marker must not appear.  Payloads are built here, by this interpreter, since marshalled
bytecode only loads in the Python version that wrote it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kconvert
from kconvert.errors import KConvertError
from tests.fixtures.bad.make_bad_corpus import MARKERS, lambda_bytecode, pickle_payload, write, yaml_apply, zip_bytes
from tests.helpers import dense_weights, keras_layer, sequential_config, write_keras2_h5

KCONVERT = Path(sys.executable).with_name("kconvert")


def lambda_layer() -> dict:
    return keras_layer("Lambda", "lam", function=[lambda_bytecode(), None, None], function_type="lambda",
                       module="__main__", output_shape=None, arguments={})


def hostile_files(d: Path) -> dict[str, Path]:
    """One file per way a model can carry code."""
    dense = keras_layer("Dense", "dense_0", units=3, activation="linear", use_bias=True)
    lambda_model = sequential_config(dense, lambda_layer())
    keras3_lambda = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None, "config": {
        "name": "lam", "function": {"class_name": "__lambda__", "config": {"code": lambda_bytecode()}}}}
    return {
        "yaml": write(d / "model.yaml", f"class_name: Sequential\nconfig: {yaml_apply()}\n"),
        "lambda json": write(d / "lambda.json", lambda_model),
        "lambda h5": write_keras2_h5(d / "lambda.h5", lambda_model, dense_weights((3,))),
        "lambda keras": write(d / "lambda.keras", zip_bytes([
            ("config.json", json.dumps(sequential_config(keras3_lambda))), ("metadata.json", "{}")])),
        "pickle": write(d / "model.pkl", pickle_payload()),
        "pickle as config": write(d / "pickled.keras", zip_bytes([("config.json", pickle_payload()),
                                                                  ("metadata.json", "{}")])),
    }


def markers_in(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name in MARKERS.values())


@pytest.mark.parametrize("kind,runner", [
    ("yaml", "import yaml, sys; yaml.unsafe_load(open(sys.argv[1]).read())"),
    ("lambda", "import base64, json, marshal, sys, types\n"
               "config = json.load(open(sys.argv[1]))['config']['layers'][2]['config']\n"
               "code = marshal.loads(base64.b64decode(config['function'][0]))\n"
               "types.FunctionType(code, {'__builtins__': __builtins__})(0)"),
    ("pickle", "import pickle, sys; pickle.loads(open(sys.argv[1], 'rb').read())"),
])
def test_the_payloads_are_live(kind: str, runner: str, tmp_path: Path) -> None:
    files = hostile_files(tmp_path)
    path = {"yaml": files["yaml"], "lambda": files["lambda json"], "pickle": files["pickle"]}[kind]
    subprocess.run([sys.executable, "-c", runner, str(path)], cwd=tmp_path, capture_output=True, timeout=60)
    assert markers_in(tmp_path) == [MARKERS[kind]]


def test_kconvert_never_runs_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = hostile_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    for name, path in files.items():
        with pytest.raises(KConvertError):
            kconvert.load(str(path))
        for target, out in (("tfjs", "web"), ("keras", "out.keras"), ("dl4j", "dl4j")):
            with pytest.raises(KConvertError):
                kconvert.convert(str(path), target, str(tmp_path / out))
        assert markers_in(tmp_path) == [], name
    for command in (["inspect", "{}"], ["verify", "{}"], ["{}", "--to", "tfjs", "web"], ["{}", "--to", "h5", "out.h5"]):
        for path in files.values():
            argv = [str(KCONVERT), *(str(path) if a == "{}" else a for a in command)]
            result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert result.returncode in (3, 4), (argv, result.stderr)
    assert markers_in(tmp_path) == []
    assert not (tmp_path / "web").exists() and not (tmp_path / "out.h5").exists()


def test_a_replaced_lambda_is_not_handed_to_keras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a replacement registered the model loads and runs, but the file still carries the
    bytecode: verification must not let Keras (which would run it) load the file."""
    path = hostile_files(tmp_path)["lambda h5"]
    monkeypatch.chdir(tmp_path)
    replacement = {"lam": {"class_name": "Activation", "config": {"activation": "linear"}}}
    report = kconvert.verify(str(path), keras="auto", lambdas=replacement)
    keras_checks = [c for c in report.checks if "keras" in c.name.lower()]
    assert keras_checks and all(c.status == "skipped" and "Lambda" in (c.reason or "") for c in keras_checks)
    written = kconvert.convert(str(path), "keras", str(tmp_path / "out.keras"), load_options={"lambdas": replacement})
    assert written.path.exists()
    assert markers_in(tmp_path) == []
    outputs = kconvert.run(kconvert.load(str(tmp_path / "out.keras")), np.ones((1, 4), "float32"))
    assert np.asarray(outputs[0] if isinstance(outputs, list) else outputs).shape == (1, 3)
