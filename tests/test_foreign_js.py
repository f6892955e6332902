"""A TF.js directory's own ``kconvert-layers.js`` never runs: only kconvert's companion module does.

The payload is a ``kconvert-layers.js`` that writes a marker file when it is loaded and then
registers kconvert's real layers, so that a run that loaded it would pass.  It is first run with
node to prove it live.  Then exports kconvert wrote (one that needs the companion module, one that
does not) carry it, and ``check --source``, ``check`` alone, ``verify --target``, a batch ``check``
and the browser page must each refuse, naming the file, with the marker absent and nothing written.
Links, directories and pipes of that name are refused too, and a file swapped after it was vetted
still does not run (the runners hand Node and the page the packaged module, never the model's copy).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import kconvert
from kconvert.errors import ForeignCodeError
from kconvert.formats.tfjs import COMPANION_FILE
from kconvert.verification import tfjs_browser, tfjs_install, tfjs_runner
from kconvert.verification.tfjs_companion import vetted_companion
from kconvert.writers.tfjs.companion import PACKAGED, source
from tests.conftest import require_tfjs
from tests.hostile import assert_no_markers, assert_refused, assert_untouched, run_command, snapshot
from tests.helpers import dense_weights, keras_layer, sequential_config, write_keras2_h5

MARKER = "kconvert-foreign-js-ran"
REFUSAL = "is not kconvert's companion module"
#: the export that needs the companion module (stock TF.js has no UnitNormalization) and one that does not
NEEDS, PLAIN = "unit", "plain"


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``src/{unit,plain}.h5`` and ``out/{unit,plain}/``, their TF.js exports as ``kconvert convert``
    names them (``unit`` with kconvert's companion module)."""
    root = tmp_path_factory.mktemp("exports")
    (root / "src").mkdir()
    dense = keras_layer("Dense", "dense_0", units=4, activation="tanh", use_bias=True)
    models = {NEEDS: sequential_config(dense, keras_layer("UnitNormalization", "unit", axis=-1)),
              PLAIN: sequential_config(dense)}
    for name, config in models.items():
        source_file = write_keras2_h5(root / "src" / f"{name}.h5", config, dense_weights((4,)))
        written = kconvert.convert(source_file, "tfjs", root / "out" / name, companion=True)
        assert (written.companion is not None) == (name == NEEDS)
    return root


def payload(marker: Path) -> bytes:
    """kconvert's companion module behind one line that writes ``marker``."""
    return f"require('fs').writeFileSync({json.dumps(str(marker))}, 'x');\n".encode() + source()


def tampered(exports: Path, tmp_path: Path, *names: str) -> Path:
    """A copy of ``exports`` whose exports ``names`` carry the payload as their kconvert-layers.js."""
    copy = tmp_path / "case"
    shutil.copytree(exports, copy)
    for name in names:
        (copy / "out" / name / COMPANION_FILE).write_bytes(payload(tmp_path / MARKER))
    return copy


def assert_nothing_ran(tmp_path: Path, before: dict[str, bytes]) -> None:
    assert not (tmp_path / MARKER).exists()
    assert_no_markers(tmp_path, [MARKER])
    assert_untouched(tmp_path, before)


def test_the_payload_is_live_and_registers_the_layers(tmp_path: Path) -> None:
    """Run by node as predict.js would run a model's module, the payload writes its marker and
    registers kconvert's classes with the real tfjs: a run that loaded it would pass."""
    require_tfjs()
    module = tmp_path / COMPANION_FILE
    module.write_bytes(payload(tmp_path / MARKER))
    tfjs = (tfjs_install.harness() or tfjs_install.install()) / "node_modules" / "@tensorflow" / "tfjs"
    script = (f"const tf = require({json.dumps(str(tfjs))}); require({json.dumps(str(module))}).register(tf);"
              "console.log(tf.serialization.SerializationMap.getMap().classNameMap.UnitNormalization ? 'ok' : '')")
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert (tmp_path / MARKER).read_text() == "x"


def test_kconverts_own_companion_still_runs(exports: Path, tmp_path: Path) -> None:
    require_tfjs()
    case = tampered(exports, tmp_path)
    done = run_command(["check", case / "out" / NEEDS, "--source", case / "src" / f"{NEEDS}.h5"], tmp_path)
    assert done.code == 0 and "PASSED  parity" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("name", [NEEDS, PLAIN])
@pytest.mark.parametrize("command", ["check --source", "check", "verify --target"])
def test_a_foreign_companion_is_refused(exports: Path, tmp_path: Path, command: str, name: str) -> None:
    case = tampered(exports, tmp_path, name)
    out, src = case / "out" / name, case / "src" / f"{name}.h5"
    args = {"check --source": ["check", out, "--source", src], "check": ["check", out],
            "verify --target": ["verify", src, "--target", out, "--no-keras"]}[command]
    before = snapshot(tmp_path)
    done = run_command(args, tmp_path)
    assert_refused(done, f"{out / COMPANION_FILE}: {REFUSAL}", codes=(3,))
    assert_nothing_ran(tmp_path, before)


def test_a_batch_check_refuses_each_foreign_companion(exports: Path, tmp_path: Path) -> None:
    case = tampered(exports, tmp_path, NEEDS, PLAIN)
    report = tmp_path / "report.json"
    before = snapshot(tmp_path)
    done = run_command(["check", case / "out", "--source", case / "src", "--jobs", "1", "--report", report],
                       tmp_path)
    assert done.code == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
    results = {m["name"]: m for m in json.loads(report.read_text())["models"]}
    for name in (NEEDS, PLAIN):
        assert results[name]["exit_code"] == 3
        assert results[name]["message"].startswith(f"{case / 'out' / name / COMPANION_FILE}: {REFUSAL}")
    report.unlink()
    assert_nothing_ran(tmp_path, before)


def test_the_browser_page_refuses_it_before_a_browser_starts(exports: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    case = tampered(exports, tmp_path, NEEDS)
    monkeypatch.setattr(tfjs_browser, "_open", lambda *args: pytest.fail("a browser was started"))
    before = snapshot(tmp_path)
    with pytest.raises(ForeignCodeError, match=REFUSAL) as refused:
        tfjs_browser.run_in_browser(case / "out" / NEEDS, [np.zeros((1, 4), "float32")])
    assert refused.value.file == str(case / "out" / NEEDS / COMPANION_FILE)
    assert_nothing_ran(tmp_path, before)


def _special(kind: str, module: Path, tmp_path: Path) -> None:
    """Put something that is not a regular file at ``module``."""
    if kind == "link to an exact copy":
        (tmp_path / "elsewhere.js").write_bytes(source())
        module.symlink_to(tmp_path / "elsewhere.js")
    elif kind == "link to the packaged module":
        module.symlink_to(PACKAGED)
    elif kind == "dangling link":
        module.symlink_to(tmp_path / "nothing.js")
    elif kind == "directory":
        module.mkdir()
        (module / "index.js").write_bytes(payload(tmp_path / MARKER))
    else:
        os.mkfifo(module)  # reading it would block: the check must not


@pytest.mark.parametrize("kind", ["link to an exact copy", "link to the packaged module", "dangling link",
                                  "directory", "pipe"])
def test_anything_but_a_regular_file_is_refused(exports: Path, tmp_path: Path, kind: str) -> None:
    case = tampered(exports, tmp_path)
    module = case / "out" / NEEDS / COMPANION_FILE
    module.unlink()
    _special(kind, module, tmp_path)
    with pytest.raises(ForeignCodeError, match="symbolic link" if "link" in kind else "not a regular file") as e:
        tfjs_runner.run_tfjs(case / "out" / NEEDS / "model.json", [np.zeros((1, 4), "float32")])
    assert e.value.file == str(module)


@pytest.mark.parametrize("length", [-1, +1])
def test_a_copy_one_byte_short_or_long_is_refused(exports: Path, tmp_path: Path, length: int) -> None:
    case = tampered(exports, tmp_path)
    module = case / "out" / NEEDS / COMPANION_FILE
    module.write_bytes(source()[:length] if length < 0 else source() + b"\n")
    with pytest.raises(ForeignCodeError, match=REFUSAL):
        vetted_companion(case / "out" / NEEDS)


def test_an_exact_copy_gets_the_packaged_module(exports: Path) -> None:
    assert vetted_companion(exports / "out" / NEEDS) == PACKAGED
    assert vetted_companion(exports / "out" / NEEDS / "model.json") == PACKAGED
    assert vetted_companion(exports / "out" / PLAIN) is None


def test_a_file_swapped_after_the_check_does_not_run_in_node(exports: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Node is handed the packaged module, never the directory's file: swapped for the payload
    between the check and Node's start, the file is not read, and the model still computes."""
    require_tfjs()
    case = tampered(exports, tmp_path)
    directory = case / "out" / NEEDS
    run_jobs = tfjs_runner.run_jobs

    def swap_then_run(*args: object, **kwargs: object) -> str | None:
        (directory / COMPANION_FILE).write_bytes(payload(tmp_path / MARKER))
        return run_jobs(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tfjs_runner, "run_jobs", swap_then_run)
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    run = tfjs_runner.run_tfjs(directory, [x])
    assert run.error is None and (directory / COMPANION_FILE).read_bytes() != source()
    with kconvert.load(case / "src" / f"{NEEDS}.h5") as model:
        np.testing.assert_allclose(run.outputs[0], kconvert.run(model, x)[0], atol=1e-5)
    assert not (tmp_path / MARKER).exists()


def test_a_file_swapped_after_the_check_does_not_run_in_the_browser(exports: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The page gets the packaged module from its own URL; the model directory serves no script."""
    if tfjs_browser.unavailable_reason():
        pytest.skip(tfjs_browser.unavailable_reason())
    case = tampered(exports, tmp_path)
    directory = case / "out" / NEEDS
    real_open = tfjs_browser._open

    def swap_then_open(*args: object) -> object:
        (directory / COMPANION_FILE).write_bytes(payload(tmp_path / MARKER).replace(
            b"require('fs')", b"(() => { throw new Error('the model directory script ran'); })()"))
        return real_open(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(tfjs_browser, "_open", swap_then_open)
    run = tfjs_browser.run_in_browser(directory, [np.ones((1, 4), "float32")], backends=("cpu",))
    assert run.companion and run.outputs[0].shape == (1, 4)


def test_a_missing_companion_that_the_model_needs_is_named(exports: Path, tmp_path: Path) -> None:
    """Without kconvert-layers.js, tfjs's "Unknown layer" is followed by what is missing and how to get it."""
    require_tfjs()
    case = tampered(exports, tmp_path)
    (case / "out" / NEEDS / COMPANION_FILE).unlink()
    run = tfjs_runner.run_tfjs(case / "out" / NEEDS, [np.ones((1, 4), "float32")])
    assert run.error is not None and "Unknown layer: UnitNormalization" in run.error
    assert f"no UnitNormalization and kconvert's {COMPANION_FILE} is not beside model.json" in run.error
    assert "--tfjs-companion" in run.error
