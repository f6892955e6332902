"""The progress display and the convert command's --quiet / --verbose: a bar on a terminal (a real
pseudo-terminal here), nothing in a pipe."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from kconvert.cli import main
from kconvert.progress import Progress, for_terminal
from tests.conftest import FIXTURES, ROOT
from tests.helpers import dense_model_config, write_keras2_h5


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_redraws_at_most_every_interval() -> None:
    clock, out = Clock(), io.StringIO()
    bar = Progress(out, 10 * 2**20, "reading weights", interval=0.1, clock=clock)
    clock.now = 0.05
    bar.update(2**20)
    assert out.getvalue() == ""  # too soon
    clock.now = 0.5
    bar.update(4 * 2**20)
    assert out.getvalue() == "\rreading weights [############............] 5.0/10.0 MB 10.0 MB/s"
    clock.now = 1.0
    bar.update(5 * 2**20)
    bar.close()
    assert out.getvalue().endswith("\rreading weights [########################] 10.0/10.0 MB 10.0 MB/s\n")


def test_only_a_terminal_gets_a_bar_and_only_for_big_transfers() -> None:
    assert isinstance(for_terminal(Terminal(), 64 * 2**20, "x"), Progress)
    assert for_terminal(io.StringIO(), 64 * 2**20, "x") is None  # a pipe or a file
    assert for_terminal(Terminal(), 64 * 2**20, "x", quiet=True) is None
    assert for_terminal(Terminal(), 2**20, "x") is None  # over before anyone could read it


def big_model(tmp_path: Path) -> Path:
    """16 MiB of weights: over the bar's threshold."""
    rng = np.random.default_rng(0)
    weights = {"dense_0": {"kernel:0": rng.random((1024, 4096), "float32"), "bias:0": np.zeros(4096, "float32")}}
    return write_keras2_h5(tmp_path / "big.h5", dense_model_config((4096,), 1024), weights)


def test_a_terminal_sees_the_bar_and_a_pipe_does_not(tmp_path: Path) -> None:
    model = big_model(tmp_path)
    command = [sys.executable, "-m", "kconvert", str(model), "--to", "tfjs"]
    leader, follower = pty.openpty()
    with subprocess.Popen([*command, str(tmp_path / "tty")], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=follower, cwd=ROOT) as process:
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
    os.close(leader)
    assert process.returncode == 0
    assert b"\rreading weights [" in seen and b"16.0/16.0 MB" in seen and b"MB/s" in seen
    piped = subprocess.run([*command, str(tmp_path / "pipe")], capture_output=True, cwd=ROOT, timeout=120)
    assert piped.returncode == 0 and b"\r" not in piped.stderr and b"reading weights" not in piped.stderr


def test_quiet_prints_nothing_and_verbose_prints_the_warnings(tmp_path: Path) -> None:
    source = str(FIXTURES / "keras1" / "dense.h5")  # its MaxNorm constraint cannot go to TF.js
    quiet = CliRunner().invoke(main, [source, "--to", "tfjs", str(tmp_path / "q"), "-q"])
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    plain = CliRunner().invoke(main, [source, "--to", "tfjs", str(tmp_path / "p")])
    assert plain.stdout.startswith("wrote ") and "kconvert: warning:" not in plain.stderr
    verbose = CliRunner().invoke(main, [source, "--to", "tfjs", str(tmp_path / "v"), "-v"])
    warnings = [line for line in verbose.stderr.splitlines() if line.startswith("kconvert: warning: ")]
    assert warnings and any("constraint" in w for w in warnings), verbose.stderr
    both = CliRunner().invoke(main, [source, "--to", "tfjs", str(tmp_path / "b"), "-q", "-v"])
    assert both.exit_code == 2
