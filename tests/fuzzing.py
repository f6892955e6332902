"""Shared pieces of the bounded fuzz tests: JSON mutations, byte mutations, crafted zip archives,
the example budget, and the one property every fuzz test checks (only kconvert's typed, one-line
errors escape)."""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from kconvert.errors import KConvertError
from tests import zips

# 300 derandomized examples per test, so CI runs the same examples every time; to hunt, run
# KCONVERT_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_*.py (random examples, as many as asked).
_HUNT = int(os.environ.get("KCONVERT_FUZZ_EXAMPLES", "0"))
BUDGET = settings(max_examples=_HUNT or 300, deadline=None, derandomize=not _HUNT, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
#: for examples that build files and folders or decompress megabytes
SMALL_BUDGET = settings(BUDGET, max_examples=_HUNT or 60)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def only_typed_errors(fn: Callable[[], Any]) -> KConvertError | None:
    """Run ``fn``: success (None), or a kconvert error on one line (returned); anything else
    propagates (an escape)."""
    try:
        fn()
    except KConvertError as exc:
        assert "\n" not in str(exc), str(exc)
        return exc
    return None


@st.composite
def crafted_zips(draw: st.DrawFn, members: dict[str, bytes], read: frozenset[str]) -> tuple[bytes, bool]:
    """A zip of ``members`` written byte by byte, each with a drawn method (those the formats use,
    bzip2, LZMA, an unknown one), a name perhaps holding a NUL, climbing out or absolute, its data
    perhaps replaced by megabytes of zeros, and a declared size that may lie; and whether a reader
    must refuse it: a bad method or name anywhere, a lying size in a member it ``read``s."""
    crafted, refuse = [], False
    for name, data in members.items():
        method = draw(st.sampled_from([zips.STORED, zips.DEFLATED, zips.DEFLATED, zips.BZIP2, zips.LZMA, 99]))
        stored_as = draw(st.sampled_from([name, name, name, f"{name}\0.txt", f"../{name}", f"/{name}"]))
        if draw(st.integers(0, 5)) == 0:
            data = bytes(draw(st.integers(0, 4 << 20)))
        m = zips.member(stored_as, data, method) if method != 99 else \
            zips.Member(stored_as.encode(), 99, data, len(data), 0)
        declared = draw(st.sampled_from([len(data)] * 3 + [0, 100, len(data) + 1, max(len(data) - 1, 0)]))
        crafted.append(zips.lying(m, declared))
        refuse |= method not in (zips.STORED, zips.DEFLATED) or stored_as != name or (
            declared != len(data) and name in read)
    return zips.archive(crafted), refuse


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutations(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one to three values replaced by arbitrary JSON or removed."""
    document = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(document) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return document


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes, window: int | None = None) -> bytes:
    """``data`` with one to eight bytes changed (within its first ``window`` bytes, where a format's
    structure lives), then perhaps cut short."""
    raw = bytearray(data)
    limit = min(len(raw), window or len(raw))
    for _ in range(draw(st.integers(1, 8))):
        raw[draw(st.integers(0, limit - 1))] = draw(st.integers(0, 255))
    cut = draw(st.one_of(st.none(), st.integers(0, len(raw))))
    return bytes(raw[:cut] if cut is not None else raw)


#: a smaller budget, for fuzzers whose every example loads a model
SMALL_BUDGET = settings(max_examples=_HUNT or 60, deadline=None, derandomize=not _HUNT, database=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: integers from the ordinary to past every machine word, either sign
BOUNDS = st.none() | st.integers(-8, 8) | st.sampled_from([2**31, 2**63 - 1, 2**63, 10**20, 10**30]).flatmap(
    lambda n: st.sampled_from([n, -n]))


@st.composite
def subscripts(draw: st.DrawFn) -> list[Any]:
    """A Keras 3 ``GetItem`` key: slices with huge, negative or no bounds, integers, ``None`` (new
    axes, sometimes thousands of them) and ellipses."""
    def item() -> Any:
        kind = draw(st.sampled_from(["slice", "index", "newaxis", "ellipsis"]))
        if kind == "slice":
            start, stop, step = (draw(BOUNDS) for _ in range(3))
            return {"class_name": "__slice__", "config": {"start": start, "stop": stop, "step": step}}
        if kind == "index":
            return draw(BOUNDS)
        return None if kind == "newaxis" else {"class_name": "__ellipsis__", "config": {}}
    items = [item() for _ in range(draw(st.integers(0, 5)))]
    items += [None] * draw(st.sampled_from([0, 0, 1, 40, 300, 20_000]))
    return [{"class_name": "__slice__", "config": {"start": None, "stop": None, "step": None}}, *items]


#: module strings an operation entry may claim: Keras's own, near misses, and paths built from them
OPERATION_MODULES = st.sampled_from([
    "keras.src.ops.numpy", "keras.src.ops.nn", "keras.src.ops.core", "keras.src.ops", "keras.src.opsx",
    "keras.src.ops/../numpy", "keras.src.ops.numpy/../../os", "keras.src.ops.numpy.", "keras.src.ops..numpy",
]) | st.text(max_size=12).map(lambda t: "keras.src.ops." + t)
OPERATION_NAMES = st.sampled_from(["GetItem", "Add", "Mean", "ExpandDims", "Squeeze", "Reshape", "Relu",
                                   "Cumsum", "system", "__import__"]) | st.text(max_size=8)


@st.composite
def operation_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A Keras 3 functional config of one operation node on an input of random rank: a random
    module and class, a subscript or other arguments (huge constants among them)."""
    from tests.helpers import keras3_operation_config

    rank = draw(st.integers(1, 6))
    shape = [None, *(draw(st.integers(1, 5)) for _ in range(rank - 1))]
    class_name = draw(OPERATION_NAMES)
    args: list[Any] = ["x", draw(subscripts())] if class_name == "GetItem" else \
        ["x", *draw(st.lists(BOUNDS | st.floats() | JSON_VALUES, max_size=2))]
    config = draw(st.dictionaries(st.sampled_from(["axis", "keepdims", "newshape", "dtype"]),
                                  BOUNDS | st.lists(BOUNDS, max_size=40) | JSON_VALUES, max_size=2))
    return keras3_operation_config(class_name, args, module=draw(OPERATION_MODULES), input_shape=shape,
                                   config=config)
