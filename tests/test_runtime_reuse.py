"""A long-lived process running many models (issue 31): ``kconvert.run`` traces each model's graph
once, whatever the batch size and however often it is called, and TensorFlow does not warn of
retracing -- which it did once five Runtimes had each traced their own graph."""

from __future__ import annotations

import logging
from typing import Iterator

import numpy as np
import pytest

import kconvert
from kconvert.ir.graph import Model
from kconvert.ir.weights import Weight
from kconvert.runtime.reuse import runtime_for
from tests.conftest import GENERATED

#: more models than TensorFlow's retracing warning lets one function trace (5) before it warns
NAMES = ("mlp", "cnn1d", "cnn2d", "functional", "channels_first", "tfkeras_only")


@pytest.fixture
def tensorflow_log() -> Iterator[list[str]]:
    """What TensorFlow logs through Python's logging meanwhile (its retracing warning is one)."""
    from kconvert.runtime.quiet_start import tf

    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def inputs_for(model: Model, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal((batch, *shape[1:])).astype("float32") for shape in model.input_shapes]


def test_a_loop_over_models_and_batch_sizes_traces_each_model_once_and_warns_of_nothing(
        tensorflow_log: list[str]) -> None:
    models = [kconvert.load(GENERATED / "tfkeras" / f"{name}.h5") for name in NAMES]
    rng = np.random.default_rng(0)
    first = [kconvert.run(m, inputs_for(m, 2, rng)) for m in models]
    for _ in range(2):
        for batch in (1, 3, 8):
            for m in models:
                kconvert.run(m, inputs_for(m, batch, rng))
    assert [m for m in tensorflow_log if "retracing" in m] == []
    assert [runtime_for(m).tracing_count for m in models] == [1] * len(models)
    # the same Runtime each time, so the same numbers for the same inputs (the first run was eager,
    # this one compiled: TensorFlow's graph may fuse operations, hence the last bits)
    again = [kconvert.run(m, inputs_for(m, 2, np.random.default_rng(0))) for m in models[:1]]
    np.testing.assert_allclose(again[0][0], first[0][0], rtol=1e-6, atol=1e-7)


def test_a_single_run_traces_nothing() -> None:
    """One pass (a verification, a check) runs eagerly: tracing a large model costs more than running it."""
    model = kconvert.load(GENERATED / "tfkeras" / "mlp.h5")
    kconvert.run(model, inputs_for(model, 2, np.random.default_rng(2)))
    assert runtime_for(model).tracing_count == 0


def test_activations_trace_once_beside_the_outputs() -> None:
    model = kconvert.load(GENERATED / "tfkeras" / "mlp.h5")
    x = inputs_for(model, 4, np.random.default_rng(1))
    for _ in range(3):
        outputs, activations = kconvert.run(model, x, activations=True)
    assert runtime_for(model).tracing_count == 2  # the outputs' graph and the every-layer one
    np.testing.assert_allclose(activations[model.outputs[0].layer][0], outputs[0], rtol=1e-6)


def test_a_model_changed_after_a_run_is_compiled_anew() -> None:
    model = kconvert.load(GENERATED / "tfkeras" / "mlp.h5")
    x = inputs_for(model, 2, np.random.default_rng(2))
    before = kconvert.run(model, x)[0]
    kept = runtime_for(model)
    layer = next(layer for layer in model.layers if "kernel" in layer.weights)
    layer.weights = {name: Weight.of(np.zeros(w.shape, w.dtype)) for name, w in layer.weights.items()}
    after = kconvert.run(model, x)[0]
    assert runtime_for(model) is not kept
    assert not np.allclose(before, after)


def test_a_call_rewired_in_place_is_compiled_anew() -> None:
    model = kconvert.load(GENERATED / "tfkeras" / "functional.h5")
    x = inputs_for(model, 2, np.random.default_rng(4))
    before = kconvert.run(model, x, activations=True)[1]["sub"][0]
    model.layer("sub").calls[0].inputs.reverse()  # shared[1] - shared, the list changed, not replaced
    after = kconvert.run(model, x, activations=True)[1]["sub"][0]
    np.testing.assert_allclose(after, -before, rtol=1e-6)


def test_closing_the_model_drops_what_run_kept() -> None:
    with kconvert.load(GENERATED / "tfkeras" / "mlp.h5") as model:
        kconvert.run(model, inputs_for(model, 2, np.random.default_rng(3)))
        assert model._runtimes
    assert not model._runtimes
