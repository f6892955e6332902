"""Differential fuzzing in CI: a fixed-seed handful of random models built by the real Keras 3 and
tf_keras, read by kconvert, run in its runtime and written to TF.js and ONNX, each run in its real
runtime and compared with the framework's own outputs; and every shrunk finding saved under
tests/fixtures/fuzz, replayed.  Long runs, with DL4J and the Keras target too: bench/fuzz.py."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from kconvert.ir.layer import LAYER_KINDS
from tests.conftest import require_tfjs
from tests.differential.draw import draw_batch
from tests.differential.findings import FIXTURES
from tests.differential.outcomes import STAGES, Outcome, Tally
from tests.differential.runner import Worker, _one_line, run_batch
from tests.differential.shrink import reductions
from tests.differential.spec import Input, ModelSpec, Node
from tests.differential.strategies import drawn_kinds

SEED, MODELS = 29, 5


def test_every_drawn_kind_is_an_ir_kind() -> None:
    import kconvert.ir.layers  # noqa: F401  (registers every kind)

    assert drawn_kinds() <= set(LAYER_KINDS), drawn_kinds() - set(LAYER_KINDS)


def test_draws_are_reproducible_and_varied() -> None:
    first, again = draw_batch(SEED, 30), draw_batch(SEED, 30)
    assert first == again
    assert {s.framework for s in first} == {"keras3", "tf_keras", "dl4j"}
    assert len({json.dumps(s.to_dict(), sort_keys=True) for s in first}) == len(first)
    assert draw_batch(SEED + 1, 30) != first


def test_shrinking_first_drops_what_no_output_needs() -> None:
    """A drawn description with a node feeding nothing and an input nothing reads: the first
    reduction is the model without them."""
    dense = Node("layer", "Dense", {"units": 2}, (1,))
    spec = ModelSpec("keras3", "keras", (Input((3,)), Input((4,))), (Node("layer", "ReLU", {}, (0,)), dense), (3,))
    assert next(reductions(spec)) == ModelSpec("keras3", "keras", (Input((4,)),),
                                                (dataclasses.replace(dense, inputs=(0,)),), (1,))


def test_a_tensorflow_failure_has_one_signature_whatever_the_graph_names() -> None:
    """TensorFlow's graph errors name the node and the frames that defined it: a shrunk model, whose
    layers are numbered anew, must still show the same finding."""
    import tensorflow as tf

    def fails(scope: str) -> Outcome:
        @tf.function
        def run(x: tf.Tensor) -> tf.Tensor:
            with tf.name_scope(scope):
                return tf.nn.depthwise_conv2d(x, tf.ones((1, 1, 1, 1)), strides=[1, 1, 2, 1], padding="VALID")
        try:
            run(tf.ones((1, 2, 4, 1)))
        except tf.errors.InvalidArgumentError as exc:
            return Outcome(0, "runtime", "finding", "untyped", _one_line(exc))
        raise AssertionError("TensorFlow ran unequal depthwise strides on this CPU")

    first, again = fails("n5"), fails("n0")
    assert first.signature == again.signature and "equal length strides" in first.detail, first.detail
    assert "File" not in first.detail and "n5" not in first.detail


@pytest.mark.slow
def test_fixed_seed_run_shows_no_silent_mismatch_and_no_untyped_exception(tmp_path: Path) -> None:
    require_tfjs()
    specs = draw_batch(SEED, MODELS, ("keras3", "tf_keras"))
    outcomes = run_batch(specs, tmp_path, ("tfjs", "onnx"))
    tally = Tally()
    for outcome in outcomes:
        tally.add(outcome)
    findings = [f"{o.stage} {o.reason}: {o.detail}\n{specs[o.model].describe()}" for o in outcomes
                if o.status == "finding"]
    assert not findings, "\n".join(findings)
    # the run judged models, not only refusals
    assert tally.matched["runtime"] >= 3 and tally.matched["tfjs"] + tally.matched["onnx"] >= 3, tally.table()


FOUND = sorted(p for p in FIXTURES.glob("*") if (p / "finding.json").exists()) if FIXTURES.is_dir() else []


@pytest.mark.parametrize("fixture", FOUND, ids=[p.name for p in FOUND])
def test_shrunk_finding_is_fixed(fixture: Path, tmp_path: Path) -> None:
    """The model the framework made for a shrunk finding, through the stage that found it: no finding now."""
    finding = Outcome(**json.loads((fixture / "finding.json").read_text())["finding"])
    if finding.stage == "tfjs":
        require_tfjs()
    copy = tmp_path / "m0"
    shutil.copytree(fixture, copy)
    (copy / "built").touch()
    results = tmp_path / "results.jsonl"
    targets = (finding.stage,) if finding.stage not in ("read", "runtime") else ()
    Worker([(0, copy)], targets, results).run()
    got = [Outcome(**line) for line in map(json.loads, results.read_text().splitlines()) if "started" not in line]
    assert not [o for o in got if o.status == "finding"], got
    # judged at its stage, or refused (typed) there or before it
    upto = STAGES[:STAGES.index(finding.stage) + 1]
    assert any(o.stage == finding.stage and o.status == "matched" or o.stage in upto and o.status == "refused"
               for o in got), got
