"""Bounded fuzzing of batch discovery: random folders of models, garbage, FIFOs, links inside and
outside, broken links and link loops.

Whatever the tree, discovery ends; without ``follow_links`` nothing it hands over leads out of
the folder; what it cannot take is that entry's one-line error; and every model it finds is
opened (detected) without blocking: only kconvert's typed errors come out.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kconvert import batch
from kconvert.formats.detect import detect
from tests.conftest import GENERATED
from tests.fuzzing import SMALL_BUDGET, only_typed_errors

KINDS = ("model", "garbage", "text", "fifo", "link-inside", "link-outside", "link-outside-dir", "link-root",
         "broken", "self-loop", "link-parent", "dev-zero")
NAMES = st.tuples(st.sampled_from(["", "a/", "b/", "a/c/"]), st.sampled_from(["m", "n", "x"]),
                  st.sampled_from([".h5", ".keras", ".json", ".txt", ""]))
TREES = st.lists(st.tuples(NAMES.map("".join), st.sampled_from(KINDS)), min_size=1, max_size=12,
                 unique_by=lambda entry: entry[0])


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """A hang fails the example instead of the whole run."""
    def expired(number: int, frame: object) -> None:
        raise AssertionError(f"still running after {seconds} s (a hang)")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def build(root: Path, tree: list[tuple[str, str]], elsewhere: Path) -> None:
    for name, kind in tree:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            continue  # a folder of that name was made for an entry below it
        if kind == "model":
            shutil.copy(GENERATED / "tfkeras" / "mlp.h5", path)
        elif kind in ("garbage", "text"):
            path.write_bytes(b"\x00garbage" if kind == "garbage" else b"notes")
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            target = {"link-inside": root / "a", "link-outside": elsewhere / "model.h5", "link-outside-dir": elsewhere,
                      "link-root": Path("/"), "broken": root / "missing", "self-loop": path,
                      "link-parent": path.parent, "dev-zero": Path("/dev/zero")}[kind]
            path.symlink_to(target)


@SMALL_BUDGET
@given(tree=TREES, follow=st.booleans())
def test_discovery_ends_stays_inside_and_opens_nothing_that_blocks(tree: list[tuple[str, str]], follow: bool) -> None:
    if follow:  # following a link to / would walk the whole file system
        tree = [(name, kind) for name, kind in tree if kind != "link-root"]
    with tempfile.TemporaryDirectory() as scratch:
        root, elsewhere = Path(scratch, "models"), Path(scratch, "elsewhere")
        elsewhere.mkdir()
        shutil.copy(GENERATED / "tfkeras" / "mlp.h5", elsewhere / "model.h5")
        root.mkdir()
        build(root, tree, elsewhere)
        inside = os.path.realpath(root)
        with deadline(30):
            found = batch.discover([str(root)], "convert", follow_links=follow)
            for name, path in found.models:
                problem = found.problems.get(name)
                if problem is not None:
                    assert "\n" not in problem and str(path) in problem, problem
                    continue
                real = os.path.realpath(path)
                assert follow or os.path.commonpath([real, inside]) == inside, f"{name} leads out to {real}"
                if not path.is_dir():
                    only_typed_errors(lambda: detect(path))
