"""Running kconvert on hostile inputs the way an attacker's victim would: in a child process held to a
memory limit (RLIMIT_AS) and a time limit, then checking what the issue's promise says must hold.

The promise for every hostile input: a typed error (through the API) or an exit code 2-4 with one line
on stderr (through the command), no traceback, no marker file written by any payload, and nothing left
in the output folder or beside it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from tests.conftest import ROOT

GiB = 1024**3
#: TensorFlow, Node and the JVM all start under this address-space limit; a bomb does not fit in it
MEMORY_LIMIT = 6 * GiB
TIME_LIMIT = 180.0
#: the command's one-line errors start with this
ERROR_PREFIX = "kconvert: error: "


@dataclass(frozen=True)
class Outcome:
    """How a limited child process ended."""

    code: int  # exit status; -N when killed by signal N; None never (a timeout raises)
    stdout: str
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        """stderr's lines that are kconvert's own (TensorFlow's start-up chatter left out)."""
        return [line for line in self.stderr.splitlines() if line.strip() and not _tensorflow_chatter(line)]


def _tensorflow_chatter(line: str) -> bool:
    return line[:1] in "IWE" and line[1:5].isdigit() or "oneDNN" in line or "cuda" in line.lower()


def _limited(memory: int) -> Any:
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return preexec


def run_limited(argv: Sequence[str], cwd: Path, *, memory: int = MEMORY_LIMIT, seconds: float = TIME_LIMIT,
                stdin: Any = subprocess.DEVNULL) -> Outcome:
    """Run ``argv`` under the limits; a run past ``seconds`` fails the test (a hang is a finding)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    try:
        done = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, stdin=stdin,
                              timeout=seconds, preexec_fn=_limited(memory))
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{' '.join(map(str, argv))} ran past {seconds:.0f} s (a hang)") from None
    return Outcome(done.returncode, done.stdout, done.stderr, time.perf_counter() - start)


def run_command(args: Sequence[str], cwd: Path, **limits: Any) -> Outcome:
    """``kconvert ARGS`` as a user runs it, under the limits."""
    return run_limited([sys.executable, "-m", "kconvert", *map(str, args)], cwd, **limits)


def run_api(code: str, cwd: Path, **limits: Any) -> dict[str, Any]:
    """Run a snippet that uses ``kconvert`` under the limits and say how it ended.

    The snippet runs inside ``try``; the answer is ``{"ok": True}`` or ``{"error": ClassName,
    "message": str, "typed": bool}`` (typed: a ``kconvert.errors.KConvertError``).  A crash or a
    traceback from outside the snippet fails the test."""
    program = "\n".join([
        "import json, sys, kconvert",
        "from kconvert.errors import KConvertError",
        "try:",
        textwrap.indent(textwrap.dedent(code).strip(), "    "),
        "    answer = {'ok': True}",
        "except BaseException as exc:",
        "    answer = {'error': type(exc).__name__, 'message': str(exc), 'typed': isinstance(exc, KConvertError)}",
        "print('KCONVERT-ANSWER ' + json.dumps(answer))",
    ])
    outcome = run_limited([sys.executable, "-c", program], cwd, **limits)
    answers = [line for line in outcome.stdout.splitlines() if line.startswith("KCONVERT-ANSWER ")]
    assert outcome.code == 0 and answers, f"the snippet crashed (exit {outcome.code}): {outcome.stderr[-2000:]}"
    answer: dict[str, Any] = json.loads(answers[-1].split(" ", 1)[1])
    return answer


def assert_typed_error(answer: dict[str, Any], *fragments: str) -> str:
    """An API call ended in one kconvert error, one line, holding every fragment; returns its message."""
    assert "error" in answer, "the call succeeded where it had to refuse"
    assert answer["typed"], f"untyped {answer['error']}: {answer['message'][:500]}"
    message: str = answer["message"]
    assert "\n" not in message.strip(), f"not one line: {message[:500]!r}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def assert_refused(outcome: Outcome, *fragments: str, codes: Iterable[int] = (2, 3, 4)) -> str:
    """The command refused with an exit code in ``codes`` and one error line holding every fragment."""
    assert "Traceback" not in outcome.stderr, outcome.stderr[-3000:]
    assert outcome.code in tuple(codes), f"exit {outcome.code}; stderr: {outcome.stderr[-2000:]}"
    errors = [line for line in outcome.lines if line.startswith(ERROR_PREFIX)]
    assert len(errors) == 1, f"expected one error line, got: {outcome.lines}"
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    return errors[0]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every path under ``directory`` (links not followed) with a regular file's bytes."""
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            for p in sorted(directory.rglob("*"))}


def assert_untouched(directory: Path, before: dict[str, bytes]) -> None:
    """Nothing was written, changed or removed under ``directory`` (an output folder and what is beside it)."""
    after = snapshot(directory)
    assert after == before, f"changed under {directory}: {sorted(set(after) ^ set(before)) or 'contents'}"


def assert_no_markers(root: Path, markers: Iterable[str]) -> None:
    """No payload left its marker file anywhere under ``root``."""
    found = [str(p) for p in root.rglob("*") if p.name in set(markers)]
    assert not found, f"a payload ran: {found}"
