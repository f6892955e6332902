"""The TF.js harness for a pip-installed kconvert: installed on first use (or by ``kconvert setup``)
into a per-user cache, with the real npm, and used from there."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kconvert
from kconvert.verification import tfjs_install
from kconvert.verification.tfjs_runner import run_tfjs
from tests.conftest import GENERATED, require_tfjs

KCONVERT = Path(sys.executable).with_name("kconvert")


@pytest.fixture
def packaged_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The harness as pip installs it (its three files, no node_modules) and an empty user cache."""
    package = tmp_path / "site-packages" / "tfjs_harness"
    package.mkdir(parents=True)
    for name in tfjs_install.FILES:
        shutil.copyfile(tfjs_install.PACKAGED / name, package / name)
    monkeypatch.setattr(tfjs_install, "PACKAGED", package)
    monkeypatch.setenv("KCONVERT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_first_use_installs_the_pinned_harness_into_the_user_cache(packaged_only: Path, tmp_path: Path) -> None:
    require_tfjs()
    assert tfjs_install.harness() is None and tfjs_install.missing() is None  # npm is there to install it
    with kconvert.load(GENERATED / "tfkeras" / "mlp.h5") as model:
        kconvert.write(model, "tfjs", tmp_path / "web")
        x = np.random.default_rng(0).normal(size=(3, *model.input_shapes[0][1:])).astype("float32")
        expected = kconvert.run(model, x)[0]

    run = run_tfjs(tmp_path / "web", [x])  # installs, then predicts
    installed = tfjs_install.harness()
    assert installed is not None and installed.parent == packaged_only
    assert installed.name.startswith("tfjs-harness-") and (installed / "node_modules" / "@tensorflow").is_dir()
    assert run.error is None and run.implementation == "@tensorflow/tfjs 4.22.0"
    np.testing.assert_allclose(run.outputs[0], expected, atol=1e-5)
    assert [p.name for p in packaged_only.iterdir()] == [installed.name]  # no staging left behind

    # a newer kconvert's predict.js (same lockfile, same packages) is used without reinstalling
    (tfjs_install.PACKAGED / "predict.js").write_text((installed / "predict.js").read_text() + "\n// newer\n")
    assert tfjs_install.harness() == installed and (installed / "predict.js").read_text().endswith("// newer\n")


def test_kconvert_setup_installs_it_once(packaged_only: Path) -> None:
    require_tfjs()
    command = ("import sys; from pathlib import Path; from kconvert.verification import tfjs_install; "
               "tfjs_install.PACKAGED = Path(sys.argv[1]); from kconvert.cli import main; main(['setup'])")
    runs = [subprocess.run([sys.executable, "-c", command, str(tfjs_install.PACKAGED)], capture_output=True,
                           text=True, timeout=900, env={**os.environ, "KCONVERT_CACHE_DIR": str(packaged_only)})
            for _ in range(2)]
    cached = tfjs_install.cached_harness()
    assert [r.returncode for r in runs] == [0, 0]
    assert all(r.stdout.startswith(f"TF.js harness: {cached}\n") for r in runs)
    assert runs[0].stderr.startswith("kconvert: installing the TF.js harness") and runs[1].stderr == ""
    assert tfjs_install.installed(cached)


def test_a_failing_npm_leaves_nothing_behind(packaged_only: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text("#!/bin/sh\necho 'npm ERR! network request to https://registry.npmjs.org failed' >&2\nexit 1\n")
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(tfjs_install.TfjsUnavailable, match="installing the TF.js harness with npm failed: npm ERR! "
                                                           "network request"):
        tfjs_install.install(announce=False)
    assert list(packaged_only.iterdir()) == []


def test_without_node_or_npm_the_reason_says_what_to_install(packaged_only: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert tfjs_install.missing() == "Node.js is not installed (TF.js targets are run with node)"
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/node" if name == "node" else None)
    assert "npm is not found to install it" in tfjs_install.missing() and "'kconvert setup'" in tfjs_install.missing()
