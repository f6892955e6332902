"""Graph behaviour of the IR: ordering, shared and multi-output layers, nested models,
validation errors, parameter counts and weight paths."""

from __future__ import annotations

import numpy as np
import pytest

from kconvert.errors import IncompatibleKerasConfigurationException as Incompatible
from kconvert.ir import Call, Layer, Model, Shape, TensorRef, Weight, infer_shapes
from kconvert.ir.layers.core import Activation, Dense
from kconvert.ir.layers.merge import Add, Concatenate
from kconvert.ir.layers.model import NestedModel
from kconvert.ir.layers.recurrent import LSTM
from kconvert.ir.layers.wrappers import Bidirectional, TimeDistributed
from tests.helpers import input_layer, layer, model, raises_exactly, zeros_for

R = TensorRef


def dense_chain(n: int, width: int = 4) -> Model:
    """Input(width) followed by ``n`` Dense(width) layers named d0, d1, ..."""
    layers = [input_layer("x", (None, width))]
    layers += [layer(f"d{i}", Dense(units=width), ["x" if i == 0 else f"d{i - 1}"]) for i in range(n)]
    return model(layers, ["x"], [f"d{n - 1}"], name="chain")


def tiny(units: int = 3, weights: bool = False, kernel_rows: int = 4) -> Model:
    """Input(4) -> Dense(units) named idense; optionally with weights (kernel_rows x units)."""
    w = {"kernel": np.zeros((kernel_rows, units)), "bias": np.zeros(units)} if weights else None
    return model([input_layer("ix", (None, 4)), layer("idense", Dense(units=units), ["ix"], weights=w)],
                 ["ix"], ["idense"], name="tiny")


def zeros(shape: tuple[int, ...]) -> Weight:
    return Weight.of(np.zeros(shape, dtype="float32"))


def expected_zeros(lay: Layer, inputs: list[Shape]) -> dict[str, Weight]:
    """Zero weights of exactly the shapes ``lay`` expects for ``inputs``."""
    return {k: Weight.of(v) for k, v in zeros_for(lay.config, inputs).items()}


def names(m: Model) -> list[str]:
    return [f"{lay.name}[{node}]" if node else lay.name for lay, node in m.nodes()]


# -- order -----------------------------------------------------------------------------------------

def test_topological_order_keeps_definition_order_when_it_is_already_valid() -> None:
    m = model([input_layer("a", (None, 4)), input_layer("b", (None, 4)),
               layer("x", Activation(activation="relu"), ["b"]), layer("y", Activation(activation="relu"), ["a"]),
               layer("sum", Add(), ["x", "y"])], ["a", "b"], ["sum"])
    assert names(m) == ["a", "b", "x", "y", "sum"]


def test_topological_order_respects_dependencies_and_is_stable() -> None:
    # defined consumers first: c <- b <- a <- x, and an independent d <- x
    m = model([input_layer("x", (None, 4)), layer("c", Dense(units=2), ["b"]), layer("b", Dense(units=2), ["a"]),
               layer("a", Dense(units=2), ["x"]), layer("d", Dense(units=2), ["x"])], ["x"], ["c", "d"])
    order = names(m)
    assert order == ["x", "a", "b", "c", "d"]  # the earliest-defined ready call first
    position = {n: i for i, n in enumerate(order)}
    for lay in m.layers:
        for call in lay.calls:
            assert all(position[r.layer] < position[lay.name] for r in call.inputs)
    assert names(m) == order  # deterministic
    assert m.output_shapes == [(None, 2), (None, 2)]


def test_mask_arguments_are_dependencies_too() -> None:
    act = Layer("act", Activation(activation="relu"), calls=[Call([R("x")], {"mask": R("m")})])
    m = model([input_layer("x", (None, 4)), act, input_layer("m", (None, 4))], ["x", "m"], ["act"])
    assert names(m) == ["x", "m", "act"]


# -- shared and multi-output layers --------------------------------------------------------------

def test_a_shared_layer_has_one_shape_list_per_call_and_counts_its_weights_once() -> None:
    shared = layer("shared", Dense(units=6), ["a"], ["b"], weights={"kernel": np.ones((10, 6)), "bias": np.ones(6)})
    m = model([input_layer("a", (None, 10)), input_layer("b", (None, 3, 10)), shared,
               layer("cat", Concatenate(axis=1), [R("shared", 0), R("shared", 0)])],
              ["a", "b"], ["cat", R("shared", 1)])
    m.validate()
    assert m.shapes()[("shared", 0)] == [(None, 6)]
    assert m.shapes()[("shared", 1)] == [(None, 3, 6)]
    assert m.output_shapes == [(None, 12), (None, 3, 6)]
    assert m.param_count() == 66
    assert names(m) == ["a", "b", "shared", "shared[1]", "cat"]


def test_a_shared_layer_called_on_an_incompatible_input_is_refused() -> None:
    shared = layer("shared", Dense(units=6), ["a"], ["b"], weights={"kernel": np.ones((10, 6)), "bias": np.ones(6)})
    m = model([input_layer("a", (None, 10)), input_layer("b", (None, 7)), shared], ["a", "b"], [R("shared", 1)])
    err = raises_exactly(Incompatible, m.validate, "layer 'shared'", "'kernel'", "(10, 6)", "(7, 6)")
    assert (err.layer, err.key) == ("shared", "kernel")


def test_outputs_of_a_multi_output_layer_are_addressed_by_index() -> None:
    m = model([input_layer("x", (None, 5, 3)), layer("lstm", LSTM(units=4, return_sequences=True, return_state=True),
                                                      ["x"]),
               layer("from_c", Dense(units=2), [R("lstm", 0, 2)])],
              ["x"], [R("lstm", 0, 0), R("lstm", 0, 1), "from_c"])
    m.validate()
    assert m.output_shapes == [(None, 5, 4), (None, 4), (None, 2)]
    assert str(R("lstm", 0, 2)) == "lstm.2" and str(R("lstm", 1, 0)) == "lstm[1]"


def test_a_tensor_index_past_the_outputs_is_refused() -> None:
    m = model([input_layer("x", (None, 5, 3)), layer("lstm", LSTM(units=4, return_state=True), ["x"]),
               layer("d", Dense(units=2), [R("lstm", 0, 3)])], ["x"], ["d"])
    raises_exactly(Incompatible, m.validate, "layer 'd' (Dense)", "output 3", "produces 3")


def test_a_model_output_index_past_the_outputs_is_refused() -> None:
    m = model([input_layer("x", (None, 4)), layer("d", Dense(units=2), ["x"])], ["x"], [R("d", 0, 1)])
    raises_exactly(Incompatible, m.validate, "model 'm' output 'd.1'", "produces 1")


# -- nested models ----------------------------------------------------------------------------------

def nested_in(inner: Model, *calls: list[str]) -> Model:
    outer_inputs = sorted({r for c in calls for r in c})
    layers = [input_layer(n, (None, 4)) for n in outer_inputs]
    layers.append(layer("sub", NestedModel(model=inner), *calls))
    outputs = [R("sub", i) for i in range(len(calls))]
    return model(layers + [layer("head", Dense(units=1), [outputs[-1]])], outer_inputs, ["head", *outputs],
                 name="outer")


def test_shapes_flow_through_a_nested_model_called_twice() -> None:
    m = nested_in(tiny(units=3, weights=True), ["a"], ["b"])
    m.validate()
    assert m.output_shapes == [(None, 1), (None, 3), (None, 3)]
    assert [p for p, _ in m.iter_weights()] == ["sub/idense/kernel", "sub/idense/bias"]
    assert m.param_count(m.layer("sub")) == 15
    assert [lay.name for lay in m.iter_layers()] == ["a", "b", "sub", "ix", "idense", "head"]
    assert [lay.name for lay in m.iter_layers(recursive=False)] == ["a", "b", "sub", "head"]


def test_a_nested_models_weights_are_checked() -> None:
    m = nested_in(tiny(units=3, weights=True, kernel_rows=5), ["a"])
    err = raises_exactly(Incompatible, m.validate, "layer 'idense'", "key 'kernel'", "(5, 3)", "(4, 3)")
    assert err.key == "kernel"


def test_a_nested_models_graph_is_checked() -> None:
    inner = model([input_layer("ix", (None, 4)), layer("idense", Dense(units=3), ["ghost"])], ["ix"], ["idense"])
    raises_exactly(Incompatible, nested_in(inner, ["a"]).validate, "layer 'idense'", "unknown layer 'ghost'")


def test_a_nested_model_refuses_an_input_it_does_not_declare() -> None:
    m = model([input_layer("a", (None, 7)), layer("sub", NestedModel(model=tiny()), ["a"])], ["a"], ["sub"])
    raises_exactly(Incompatible, m.validate, "layer 'sub' (Model)", "expects its input 'ix' to be (None, 4)")


# -- validation errors ------------------------------------------------------------------------------

def test_duplicate_layer_names() -> None:
    m = model([input_layer("x", (None, 4)), layer("d", Dense(units=2), ["x"]), layer("d", Dense(units=2), ["d"])],
              ["x"], ["d"])
    err = raises_exactly(Incompatible, m.validate, "layer 'd'", "duplicate layer name 'd'")
    assert err.layer == "d"


def test_unknown_inbound_layer() -> None:
    m = model([input_layer("x", (None, 4)), layer("d", Dense(units=2), ["nope"])], ["x"], ["d"])
    err = raises_exactly(Incompatible, m.validate, "layer 'd' (Dense)", "unknown layer 'nope'")
    assert err.layer == "d" and err.layer_class == "Dense"


@pytest.mark.parametrize("ref,what", [(R("x", 1), "an input refers to call 1 of layer 'x'"),
                                      (R("x", 0, -1), "negative tensor index")])
def test_inbound_call_out_of_range(ref: TensorRef, what: str) -> None:
    m = model([input_layer("x", (None, 4)), layer("d", Dense(units=2), [ref])], ["x"], ["d"])
    raises_exactly(Incompatible, m.validate, "layer 'd'", what)


def test_model_output_names_a_call_that_does_not_exist() -> None:
    m = model([input_layer("x", (None, 4)), layer("d", Dense(units=2), ["x"])], ["x"], [R("d", 2)])
    raises_exactly(Incompatible, m.validate, "a model output refers to call 2 of layer 'd'", "called 1 time")


def test_cycle() -> None:
    m = model([input_layer("x", (None, 4)), layer("a", Dense(units=4), ["x"]),
               layer("b", Add(), ["a", "c"]), layer("c", Dense(units=4), ["b"]), layer("after", Dense(units=1), ["c"])],
              ["x"], ["after"])
    err = raises_exactly(Incompatible, m.validate, "cycle", "'b'", "'c'")
    assert err.layer == "b"
    assert "'a'" not in err.reason


def test_a_long_chain_validates_without_recursion() -> None:
    m = dense_chain(10_000)
    m.validate()
    assert m.output_shapes == [(None, 4)]
    assert m.param_count() == 10_000 * 20
    assert len(m.nodes()) == 10_001


def test_a_long_cycle_is_found_without_recursion() -> None:
    m = dense_chain(10_000)
    m.layers[1].calls = [Call([R("d9999")])]  # close the loop: d0 <- d9999
    raises_exactly(Incompatible, m.validate, "layer 'd0'", "cycle")


@pytest.mark.parametrize("side", ["inputs", "outputs"])
def test_missing_inputs_or_outputs(side: str) -> None:
    m = dense_chain(1)
    setattr(m, side, [])
    raises_exactly(Incompatible, m.validate, f"model 'chain' has no {side}")


def test_a_weight_of_the_wrong_shape_names_layer_and_key() -> None:
    m = dense_chain(2)
    m.layer("d1").weights = {"kernel": zeros((4, 5)), "bias": zeros((4,))}
    err = raises_exactly(Incompatible, m.validate, "layer 'd1' (Dense)", "key 'kernel'",
                         "weight 'kernel' has shape (4, 5)", "call for (4, 4)")
    assert (err.layer, err.key) == ("d1", "kernel")


@pytest.mark.parametrize("present,message", [
    ({"kernel": (4, 4)}, "has weights [kernel] but its configuration calls for [kernel, bias]"),
    ({"kernel": (4, 4), "bias": (4,), "gamma": (4,)}, "has weights [kernel, bias, gamma]"),
    ({"kernel": (4, 4), "beta": (4,)}, "calls for [kernel, bias]"),
])
def test_missing_or_extra_weights(present: dict[str, tuple[int, ...]], message: str) -> None:
    m = dense_chain(1)
    m.layer("d0").weights = {k: zeros(s) for k, s in present.items()}
    raises_exactly(Incompatible, m.validate, "layer 'd0' (Dense)", message)


def test_weights_on_a_layer_without_weights_are_refused() -> None:
    m = model([input_layer("x", (None, 4)), layer("act", Activation(activation="relu"), ["x"],
                                                  weights={"kernel": np.zeros(4)})], ["x"], ["act"])
    raises_exactly(Incompatible, m.validate, "layer 'act'", "has weights [kernel]", "calls for none")


def test_a_wrapped_layers_weights_are_checked_with_the_wrapper_named() -> None:
    inner = Layer("inner", Dense(units=2), weights={"kernel": zeros((5, 2)), "bias": zeros((2,))})
    m = model([input_layer("x", (None, 7, 3)), layer("td", TimeDistributed(layer=inner), ["x"])], ["x"], ["td"])
    err = raises_exactly(Incompatible, m.validate, "layer 'inner'", "(5, 2)", "(3, 2)")
    assert err.key == "kernel"


def test_infer_shapes_with_overridden_inputs() -> None:
    m = model([input_layer("x", (None, None, 4)), layer("d", Dense(units=2), ["x"])], ["x"], ["d"])
    assert infer_shapes(m, [(8, 5, 4)])[("d", 0)] == [(8, 5, 2)]
    raises_exactly(Incompatible, lambda: infer_shapes(m, [(8, 4), (8, 4)]), "takes 1 inputs, got 2")


def test_a_layer_that_cannot_take_its_input_is_named() -> None:
    m = model([input_layer("x", (None, 4)), layer("lstm", LSTM(units=2), ["x"])], ["x"], ["lstm"])
    raises_exactly(Incompatible, m.validate, "layer 'lstm' (LSTM)", "cannot be applied to (None, 4)", "rank-3")


def test_validate_recomputes_cached_shapes() -> None:
    m = dense_chain(1)
    assert m.output_shapes == [(None, 4)]
    m.layers[0] = input_layer("x", (None, 9))
    m.validate()
    assert m.shapes()[("x", 0)] == [(None, 9)]


# -- parameter counts and weight paths ----------------------------------------------------------------

def test_param_count_without_weights_comes_from_the_shapes() -> None:
    m = dense_chain(2)
    assert not m.has_weights
    assert m.param_count(m.layer("d0")) == 20 and m.param_count(m.layer("x")) == 0
    assert m.param_count() == 40


def test_param_count_with_weights_counts_what_is_bound() -> None:
    m = dense_chain(1)
    m.layer("d0").weights = expected_zeros(m.layer("d0"), [(None, 4)])
    assert m.has_weights and m.param_count() == 20


def test_param_count_is_unknown_when_a_shape_is() -> None:
    m = model([input_layer("x", (None, None)), layer("d", Dense(units=2), ["x"])], ["x"], ["d"])
    assert m.param_count(m.layer("d")) is None and m.param_count() is None
    uncalled = Layer("loose", Dense(units=2))
    m.layers.append(uncalled)
    assert m.param_count(uncalled) is None


def test_wrappers_count_and_path_their_sublayers_weights() -> None:
    fw, bw = Layer("forward_lstm", LSTM(units=3)), Layer("backward_lstm", LSTM(units=3, go_backwards=True))
    td_inner = Layer("dense", Dense(units=2))
    m = model([input_layer("x", (None, 5, 4)), layer("bi", Bidirectional(forward=fw, backward=bw), ["x"]),
               layer("td", TimeDistributed(layer=td_inner), ["x"])], ["x"], ["bi", "td"])
    lstm_params = 4 * (4 * 3 + 3 * 3 + 3)
    assert m.param_count(m.layer("bi")) == 2 * lstm_params
    assert m.param_count(m.layer("td")) == 10
    assert list(m.iter_weights()) == []
    for sub in (fw, bw):
        sub.weights = expected_zeros(sub, [(None, 5, 4)])
    td_inner.weights = expected_zeros(td_inner, [(None, 4)])
    m.validate()
    assert [p for p, _ in m.iter_weights()] == [
        "bi/forward_lstm/kernel", "bi/forward_lstm/recurrent_kernel", "bi/forward_lstm/bias",
        "bi/backward_lstm/kernel", "bi/backward_lstm/recurrent_kernel", "bi/backward_lstm/bias",
        "td/dense/kernel", "td/dense/bias"]
    assert [p for p, _ in m.layer("bi").iter_weights()][0] == "forward_lstm/kernel"
    assert m.param_count() == 2 * lstm_params + 10
    assert [lay.name for lay in m.iter_layers()] == ["x", "bi", "forward_lstm", "backward_lstm", "td", "dense"]


def test_close_releases_every_resource() -> None:
    class Resource:
        closed = 0

        def close(self) -> None:
            Resource.closed += 1

    with dense_chain(1) as m:
        m.resources += [Resource(), Resource()]
    assert Resource.closed == 2
