"""The ``kconvert`` command as a user drives it: click's runner in-process, and a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import EXIT_INCOMPATIBLE, EXIT_UNREADABLE, main
from tests.conftest import GENERATED, ROOT

SCHEMA = json.loads((ROOT / "schemas" / "inspect-report.schema.json").read_text())
MLP = GENERATED / "tfkeras" / "mlp"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_inspect_prints_a_keras_like_summary() -> None:
    code, out, _ = run("inspect", f"{MLP}.h5")
    assert code == 0
    assert 'Model: "mlp"' in out and "Keras 2.21.0" in out
    for layer in ("hidden (Dense)", "bn (BatchNormalization)", "probs (Dense)"):
        assert layer in out
    assert "Total params: 452" in out and "Non-trainable params: 32" in out
    assert "Training: optimizer Adam(" in out and "loss categorical_crossentropy" in out


@pytest.mark.parametrize("source", ["tfkeras/mlp.h5", "keras3/functional.keras", "tfkeras/rnn.yaml",
                                    "keras3/cnn2d.json", "tfkeras/tfkeras_only.h5"])
def test_inspect_json_matches_its_schema(source: str) -> None:
    code, out, _ = run("inspect", str(GENERATED / source), "--json")
    assert code == 0
    report = json.loads(out)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    model = kconvert.load(GENERATED / source)
    assert report["params"]["total"] == model.param_count()
    assert [layer["name"] for layer in report["layers"]] == [layer.name for layer in model.layers]


def test_inspect_with_a_separate_weights_file() -> None:
    code, out, _ = run("inspect", f"{MLP}.json", "--weights", f"{MLP}.weights.h5", "--weights-by", "name", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["params"]["weights_loaded"] is True
    assert report["provenance"]["weights_source"].endswith("mlp.weights.h5")


def test_unreadable_input_exits_3_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    code, _, err = run("inspect", str(bad))
    assert code == EXIT_UNREADABLE
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kconvert: error: ") and str(bad) in lines[0]
    assert "Traceback" not in err


def test_incompatible_model_exits_4_naming_layer_and_class(tmp_path: Path) -> None:
    config = json.loads(Path(f"{MLP}.json").read_text())
    config["config"]["layers"][1]["class_name"] = "Dense2"
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(config))
    code, _, err = run("inspect", str(path))
    assert code == EXIT_INCOMPATIBLE
    assert "layer 'hidden' (Dense2)" in err and "did you mean 'Dense'" in err


def test_enforce_training_config_turns_a_warning_into_exit_4(tmp_path: Path) -> None:
    config = json.loads(Path(f"{MLP}.json").read_text())
    config["config"]["layers"][1]["config"]["kernel_initializer"] = {"class_name": "MyInit", "config": {}}
    path = tmp_path / "custom_init.json"
    path.write_text(json.dumps(config))
    code, out, _ = run("inspect", str(path))
    assert code == 0 and "unknown initializer 'MyInit'" in out
    code, _, err = run("inspect", str(path), "--enforce-training-config")
    assert code == EXIT_INCOMPATIBLE and "UnsupportedKerasConfigurationException" not in err
    assert "key 'kernel_initializer'" in err


def test_real_subprocess_and_debug_traceback(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "kconvert", "inspect", f"{MLP}.h5"], capture_output=True, text=True)
    assert ok.returncode == 0 and "Total params: 452" in ok.stdout
    missing = tmp_path / "nope.h5"
    failed = subprocess.run([sys.executable, "-m", "kconvert", "inspect", str(missing)], capture_output=True, text=True)
    assert failed.returncode == EXIT_UNREADABLE and failed.stderr.count("\n") == 1
    debug = subprocess.run([sys.executable, "-m", "kconvert", "inspect", str(missing), "--debug"],
                           capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "InputReadError" in debug.stderr


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and kconvert.__version__ in out


def test_reading_never_imports_tensorflow() -> None:
    """Conversion stays light: TensorFlow and Keras are imported only to run or to write Keras."""
    script = (
        "import sys, kconvert\n"
        f"m = kconvert.load({str(GENERATED / 'keras3' / 'functional.keras')!r})\n"
        "kconvert.summary(m); [w.numpy() for _, w in m.iter_weights()]\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- convert ------------------------------------------------------------------------------------------

def test_convert_is_the_default_command(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    code, out, _ = run(f"{MLP}.h5", "--to", "tfjs", str(tmp_path / "web"), "--shard-size", "1KB",
                       "--quantize", "uint16:hidden/*", "--report", str(report))
    assert code == 0, out
    assert f"wrote {tmp_path / 'web' / 'model.json'}" in out
    document = json.loads(report.read_text())
    from kconvert.schemas import validate

    validate(document, "convert-report")
    assert document["verification"] is None and document["target"] == "tfjs"
    shards = sorted(p.name for p in (tmp_path / "web").glob("*.bin"))
    assert len(shards) == 2 and all((tmp_path / "web" / s).stat().st_size <= 1000 for s in shards)
    assert any(n["category"] == "unsupported" and "MaxNorm" in n["message"] for n in document["output"]["notes"])
    same, _, _ = run("convert", f"{MLP}.h5", "--to", "tfjs", str(tmp_path / "web2"))
    assert same == 0


@pytest.mark.parametrize("args,code,message", [
    (["--quantize", "int3"], 2, "unknown quantization dtype"),
    (["--quantize", "uint8:nothing/*"], 2, "matches no weight"),
    (["--shard-size", "lots"], 2, "not a size"),
    (["--to", "coreml"], 2, "Invalid value for '--to'"),
])
def test_convert_usage_errors_write_nothing(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    exit_code, _, err = run(f"{MLP}.h5", "--to", "tfjs", str(tmp_path / "web"), *args)
    assert exit_code == code and message in err
    assert not (tmp_path / "web").exists()


def test_convert_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    code, _, err = run(f"{MLP}.h5", "--to", "tfjs", str(tmp_path / "busy"))
    assert code == 2 and "not empty" in err and "--overwrite" in err
    code, _, _ = run(f"{MLP}.h5", "--to", "tfjs", str(tmp_path / "busy"), "--overwrite")
    assert code == 0 and not (tmp_path / "busy" / "keep.txt").exists()
    code, _, err = run(str(tmp_path / "missing.h5"), "--to", "tfjs", str(tmp_path / "a"))
    assert code == EXIT_UNREADABLE and "no such file" in err
    code, _, err = run(str(ROOT / "tests" / "fixtures" / "keras1" / "locally_connected1d.h5"), "--to", "tfjs",
                       str(tmp_path / "b"))
    assert code == EXIT_INCOMPATIBLE and err.startswith("kconvert: error: ") and "--tfjs-companion" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "b").exists()
    code, _, err = run(f"{MLP}.h5", "--to", "tfjs", str(tmp_path / "c"), "--enforce-training-config")
    assert code == EXIT_INCOMPATIBLE and "MaxNorm" in err and not (tmp_path / "c").exists()


def test_converted_models_read_back(tmp_path: Path) -> None:
    assert run(f"{MLP}.h5", "--to", "tfjs", str(tmp_path / "web"))[0] == 0
    code, out, _ = run("inspect", str(tmp_path / "web"))
    assert code == 0 and "read from tfjs-layers" in out and "Total params: 452" in out
