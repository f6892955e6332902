"""How each IR kind is drawn as a Keras call: per kind, which tensors it applies to, a drawn
configuration (across what Keras accepts) and the shapes it makes.  Keyed by IR kind, so that
:data:`RECIPES` can be checked against the registry (``kconvert.ir.layer.LAYER_KINDS``).

Shapes are without the batch, channels-last unless a drawn ``data_format`` says otherwise; a
drawn configuration Keras rejects only costs a model (the builder reports it as not built).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from hypothesis import strategies as st

Shape = tuple[int, ...]
#: a recipe draws (Keras class or ops function, configuration, output shapes) for its input shapes, or None
Draw = Callable[[st.DrawFn, list[Shape], str], "tuple[str, dict[str, Any], list[Shape]] | None"]

#: activations both Keras generations name alike, and those only Keras 3 has
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign",
               "hard_sigmoid", "swish", "gelu", "exponential")
KERAS3_ACTIVATIONS = ("relu6", "silu", "leaky_relu", "log_softmax", "mish", "hard_silu", "celu", "hard_tanh",
                      "tanh_shrink", "soft_shrink", "squareplus", "sparse_plus")


@dataclass(frozen=True)
class Recipe:
    kind: str  # the IR kind
    arity: int  # tensors it takes (2: two tensors of fitting shapes)
    applies: Callable[[Shape], bool]  # to the (first) input's shape
    draw: Draw
    frameworks: tuple[str, ...] = ("keras3", "tf_keras")
    op: str = "layer"  # layer | ops
    passes_mask: bool = False  # a masked tensor may flow in (Keras would otherwise drop or refuse the mask)


def activation(draw: st.DrawFn, fw: str) -> str:
    return draw(st.sampled_from(ACTIVATIONS + (KERAS3_ACTIVATIONS if fw == "keras3" else ())))


def _conv_len(n: int, k: int, s: int, d: int, padding: str) -> int:
    if padding in ("same", "causal"):
        return math.ceil(n / s)
    return (n - d * (k - 1) - 1) // s + 1


def _window(draw: st.DrawFn, sizes: Shape, dilated: bool) -> tuple[list[int], list[int], list[int], str] | None:
    """Kernel, strides, dilation and padding for a window over ``sizes``, leaving at least 1 out."""
    padding = draw(st.sampled_from(["valid", "same"]))
    kernel = [draw(st.integers(1, min(3, n))) for n in sizes]
    dilation = [1] * len(sizes)
    if dilated and draw(st.booleans()):
        dilation = [draw(st.integers(1, 2)) for _ in sizes]
    strides = [1] * len(sizes) if max(dilation) > 1 else [draw(st.integers(1, 2)) for _ in sizes]
    if any(_conv_len(n, k, s, d, padding) < 1 for n, k, s, d in zip(sizes, kernel, strides, dilation)):
        return None
    return kernel, strides, dilation, padding


def _split(shape: Shape, data_format: str) -> tuple[Shape, int]:
    return (shape[1:], shape[0]) if data_format == "channels_first" else (shape[:-1], shape[-1])


def _join(sizes: Shape, channels: int, data_format: str) -> Shape:
    return (channels, *sizes) if data_format == "channels_first" else (*sizes, channels)


def data_format(draw: st.DrawFn) -> str:
    # channels_first is rare: this machine's TensorFlow cannot run it on the CPU (kconvert's runtime is then the reference)
    return draw(st.sampled_from(["channels_last"] * 7 + ["channels_first"]))


def _conv(cls: str, depthwise: bool = False, separable: bool = False, transpose: bool = False) -> Draw:
    def draw_conv(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
        fmt = data_format(draw)
        sizes, channels = _split(shapes[0], fmt)
        window = _window(draw, sizes, dilated=not transpose)
        if window is None:
            return None
        kernel, strides, dilation, padding = window
        if len(sizes) == 1 and not transpose and not separable and not depthwise and draw(st.integers(0, 3)) == 0:
            padding = "causal"
        config: dict[str, Any] = {"kernel_size": kernel, "strides": strides, "padding": padding,
                                  "data_format": fmt, "use_bias": draw(st.booleans()),
                                  "activation": activation(draw, fw)}
        if not transpose:
            config["dilation_rate"] = dilation
        if depthwise:
            multiplier = draw(st.integers(1, 2))
            config["depth_multiplier"] = multiplier
            out = channels * multiplier
        else:
            out = draw(st.integers(1, 4))
            config["filters"] = out
            if separable:
                config["depth_multiplier"] = draw(st.integers(1, 2))
        if transpose:
            made = tuple(n * s if padding == "same" else (n - 1) * s + k for n, k, s in zip(sizes, kernel, strides))
            if fmt == "channels_first" and fw == "keras3":
                return None
        else:
            made = tuple(_conv_len(n, k, s, d, padding) for n, k, s, d in zip(sizes, kernel, strides, dilation))
        return cls, config, [_join(made, out, fmt)]
    return draw_conv


def _pool(cls: str) -> Draw:
    def draw_pool(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
        fmt = data_format(draw)
        sizes, channels = _split(shapes[0], fmt)
        window = _window(draw, sizes, dilated=False)
        if window is None:
            return None
        pool, strides, _, padding = window
        made = tuple(_conv_len(n, k, s, 1, padding) for n, k, s in zip(sizes, pool, strides))
        return cls, {"pool_size": pool, "strides": strides, "padding": padding, "data_format": fmt}, \
            [_join(made, channels, fmt)]
    return draw_pool


def _global_pool(cls: str) -> Draw:
    def draw_pool(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
        fmt = data_format(draw)
        keepdims = draw(st.booleans())
        sizes, channels = _split(shapes[0], fmt)
        out = _join((1,) * len(sizes), channels, fmt) if keepdims else (channels,)
        return cls, {"data_format": fmt, "keepdims": keepdims}, [out]
    return draw_pool


def _padding_like(cls: str, grow: bool) -> Draw:
    def draw_pad(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
        fmt = data_format(draw) if len(shapes[0]) > 2 else "channels_last"
        sizes, channels = _split(shapes[0], fmt)
        pads = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in sizes]
        made = tuple(n + a + b if grow else n - a - b for n, (a, b) in zip(sizes, pads))
        if min(made) < 1:
            return None
        key = "padding" if grow else "cropping"
        config: dict[str, Any] = {key: pads[0] if len(sizes) == 1 else pads}
        if len(sizes) > 1:
            config["data_format"] = fmt
        return cls, config, [_join(made, channels, fmt)]
    return draw_pad


def _upsampling(cls: str) -> Draw:
    def draw_up(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
        fmt = data_format(draw) if len(shapes[0]) > 2 else "channels_last"
        sizes, channels = _split(shapes[0], fmt)
        factors = [draw(st.integers(1, 2)) for _ in sizes]
        config: dict[str, Any] = {"size": factors[0] if len(sizes) == 1 else factors}
        if len(sizes) == 2:
            config.update(data_format=fmt, interpolation=draw(st.sampled_from(["nearest", "bilinear"])))
        return cls, config, [_join(tuple(n * f for n, f in zip(sizes, factors)), channels, fmt)]
    return draw_up


def _recurrent(cls: str) -> Draw:
    def draw_rnn(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
        steps = shapes[0][0]
        units = draw(st.integers(1, 4))
        sequences, state = draw(st.booleans()), draw(st.integers(0, 3)) == 0
        config: dict[str, Any] = {"units": units, "activation": draw(st.sampled_from(["tanh", "relu", "sigmoid",
                                                                                      "linear", "softsign"])),
                                  "use_bias": draw(st.booleans()), "return_sequences": sequences,
                                  "return_state": state, "go_backwards": draw(st.booleans())}
        if cls != "SimpleRNN":
            config["recurrent_activation"] = draw(st.sampled_from(["sigmoid", "hard_sigmoid", "tanh"]))
        if cls == "GRU":
            config["reset_after"] = draw(st.booleans())
        if cls == "LSTM":
            config["unit_forget_bias"] = draw(st.booleans())
        out = [(steps, units) if sequences else (units,)]
        if state:
            out += [(units,)] * (2 if cls == "LSTM" else 1)
        return cls, config, out
    return draw_rnn


def _bidirectional(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    inner = draw(st.sampled_from(["SimpleRNN", "LSTM", "GRU"]))
    made = _recurrent(inner)(draw, shapes, fw)
    _, config, out = made
    config["return_state"] = False
    merge = draw(st.sampled_from(["concat", "sum", "mul", "ave"]))
    units = config["units"]
    width = 2 * units if merge == "concat" else units
    shape = (shapes[0][0], width) if config["return_sequences"] else (width,)
    return "Bidirectional", {"layer": [inner, config], "merge_mode": merge}, [shape]


def _dense(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    units = draw(st.integers(1, 6))
    return "Dense", {"units": units, "activation": activation(draw, fw), "use_bias": draw(st.booleans())}, \
        [(*shapes[0][:-1], units)]


def _same(cls: str, config: Callable[[st.DrawFn, Shape, str], dict[str, Any] | None]) -> Draw:
    def draw_same(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
        made = config(draw, shapes[0], fw)
        return None if made is None else (cls, made, [shapes[0]])
    return draw_same


def _batchnorm(draw: st.DrawFn, shape: Shape, fw: str) -> dict[str, Any]:
    axis = draw(st.sampled_from([-1, len(shape), *range(1, len(shape) + 1)]))
    return {"axis": axis, "center": draw(st.booleans()), "scale": draw(st.booleans()),
            "epsilon": draw(st.sampled_from([1e-3, 1e-5, 0.1]))}


def _flatten(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    return "Flatten", {}, [(math.prod(shapes[0]),)]


def _reshape(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    total = math.prod(shapes[0])
    divisors = [d for d in range(1, total + 1) if total % d == 0]
    first = draw(st.sampled_from(divisors))
    target = draw(st.sampled_from([(total,), (first, total // first), (first, -1)]))
    made = tuple(total // first if d == -1 else d for d in target)
    return "Reshape", {"target_shape": list(target)}, [made]


def _permute(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    dims = draw(st.permutations(range(1, len(shapes[0]) + 1)))
    return "Permute", {"dims": list(dims)}, [tuple(shapes[0][d - 1] for d in dims)]


def _repeat(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    n = draw(st.integers(1, 3))
    return "RepeatVector", {"n": n}, [(n, shapes[0][0])]


def _time_distributed(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    _, config, (made,) = _dense(draw, [shapes[0][1:]], fw)
    return "TimeDistributed", {"layer": ["Dense", config]}, [(shapes[0][0], *made)]


def _merge(cls: str) -> Draw:
    def draw_merge(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
        return (cls, {}, [shapes[0]]) if shapes[0] == shapes[1] else None
    return draw_merge


def _concatenate(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    a, b = shapes
    if len(a) != len(b):
        return None
    axes = [i for i in range(len(a)) if all(x == y for j, (x, y) in enumerate(zip(a, b)) if j != i)]
    if not axes:
        return None
    i = draw(st.sampled_from(axes))
    axis = draw(st.sampled_from([i + 1, i - len(a)]))
    return "Concatenate", {"axis": axis}, [tuple(x + y if j == i else x for j, (x, y) in enumerate(zip(a, b)))]


def _dot(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    a, b = shapes
    if a != b or len(a) != 1:
        return None
    return "Dot", {"axes": -1, "normalize": draw(st.booleans())}, [(1,)]


def _attention(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    q, v = shapes
    if len(q) != 2 or len(v) != 2 or q[1] != v[1]:
        return None
    return "Attention", {"use_scale": draw(st.booleans()),
                         "score_mode": draw(st.sampled_from(["dot", "concat"]))}, [q]


def _multi_head(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    q, v = shapes
    if len(q) != 2 or len(v) != 2:
        return None
    return "MultiHeadAttention", {"num_heads": draw(st.integers(1, 2)), "key_dim": draw(st.integers(1, 3)),
                                  "use_bias": draw(st.booleans())}, [q]


def _ops_unary(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    return draw(st.sampled_from(["abs", "tanh", "sigmoid", "square", "negative", "relu", "softplus", "sin",
                                 "cos", "floor", "sign", "exp"])), {}, [shapes[0]]


def _ops_binary(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    if shapes[0] != shapes[1]:
        return None
    return draw(st.sampled_from(["add", "multiply", "subtract", "maximum", "minimum"])), {}, [shapes[0]]


def _ops_reduce(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    shape = shapes[0]
    axis = draw(st.integers(1, len(shape)))
    keepdims = draw(st.booleans())
    made = tuple(1 if i + 1 == axis else n for i, n in enumerate(shape)) if keepdims else \
        tuple(n for i, n in enumerate(shape) if i + 1 != axis)
    if not made:
        return None
    return draw(st.sampled_from(["mean", "sum", "max", "min"])), {"axis": axis, "keepdims": keepdims}, [made]


def _ops_expand(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    axis = draw(st.integers(1, len(shapes[0]) + 1))
    made = list(shapes[0])
    made.insert(axis - 1, 1)
    return "expand_dims", {"axis": axis}, [tuple(made)]


def _ops_cumsum(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    return "cumsum", {"axis": draw(st.integers(1, len(shapes[0])))}, [shapes[0]]


def _ops_getitem(draw: st.DrawFn, shapes: list[Shape], fw: str) -> Any:
    shape = shapes[0]
    axis = draw(st.integers(1, len(shape)))
    n = shape[axis - 1]
    start = draw(st.integers(0, n - 1))
    stop = draw(st.integers(start + 1, n))
    made = tuple(stop - start if i + 1 == axis else d for i, d in enumerate(shape))
    return "getitem", {"axis": axis, "start": start, "stop": stop}, [made]


def _rank(*ranks: int, floor: int = 1) -> Callable[[Shape], bool]:
    return lambda shape: len(shape) in ranks and min(shape) >= floor


def _any_rank(shape: Shape) -> bool:
    return True


def _leaky(draw: st.DrawFn, shape: Shape, fw: str) -> dict[str, Any]:
    return {"negative_slope" if fw == "keras3" else "alpha": draw(st.sampled_from([0.01, 0.2, 0.3, 1.5]))}


def _relu(draw: st.DrawFn, shape: Shape, fw: str) -> dict[str, Any]:
    return {"max_value": draw(st.sampled_from([None, 1.0, 6.0])), "negative_slope": draw(st.sampled_from([0.0, 0.1])),
            "threshold": draw(st.sampled_from([0.0, 0.5, -0.5]))}


def _prelu(draw: st.DrawFn, shape: Shape, fw: str) -> dict[str, Any]:
    shared = draw(st.sets(st.integers(1, len(shape)), max_size=len(shape) - 1)) if len(shape) > 1 else set()
    return {"shared_axes": sorted(shared) or None}


RECIPES: tuple[Recipe, ...] = (
    Recipe("Dense", 1, _any_rank, _dense, passes_mask=True),
    Recipe("Activation", 1, _any_rank, _same("Activation", lambda d, s, fw: {"activation": activation(d, fw)}),
           passes_mask=True),
    Recipe("Dropout", 1, _any_rank, _same("Dropout", lambda d, s, fw: {"rate": 0.5}), passes_mask=True),
    Recipe("GaussianNoise", 1, _any_rank, _same("GaussianNoise", lambda d, s, fw: {"stddev": 0.3})),
    Recipe("GaussianDropout", 1, _any_rank, _same("GaussianDropout", lambda d, s, fw: {"rate": 0.3})),
    Recipe("AlphaDropout", 1, _any_rank, _same("AlphaDropout", lambda d, s, fw: {"rate": 0.3})),
    Recipe("SpatialDropout1D", 1, _rank(2), _same("SpatialDropout1D", lambda d, s, fw: {"rate": 0.3})),
    Recipe("SpatialDropout2D", 1, _rank(3), _same("SpatialDropout2D", lambda d, s, fw: {"rate": 0.3})),
    Recipe("ActivityRegularization", 1, _any_rank, _same("ActivityRegularization", lambda d, s, fw: {"l1": 0.1})),
    Recipe("BatchNormalization", 1, _any_rank, _same("BatchNormalization", _batchnorm)),
    Recipe("LayerNormalization", 1, _any_rank, _same("LayerNormalization", lambda d, s, fw: {
        "axis": -1, "center": d(st.booleans()), "scale": d(st.booleans()), "epsilon": d(st.sampled_from([1e-3, 0.1]))})),
    Recipe("UnitNormalization", 1, _any_rank, _same("UnitNormalization", lambda d, s, fw: {"axis": -1})),
    Recipe("Softmax", 1, _any_rank, _same("Softmax", lambda d, s, fw: {"axis": d(st.sampled_from([-1, len(s)]))})),
    Recipe("LeakyReLU", 1, _any_rank, _same("LeakyReLU", _leaky)),
    Recipe("ELU", 1, _any_rank, _same("ELU", lambda d, s, fw: {"alpha": d(st.sampled_from([1.0, 0.5, 2.0]))})),
    Recipe("ReLU", 1, _any_rank, _same("ReLU", _relu)),
    Recipe("PReLU", 1, _any_rank, _same("PReLU", _prelu)),
    Recipe("ThresholdedReLU", 1, _any_rank, _same("ThresholdedReLU", lambda d, s, fw: {
        "theta": d(st.sampled_from([0.0, 0.5, 1.0]))}), frameworks=("tf_keras",)),
    Recipe("Flatten", 1, _rank(2, 3), _flatten),
    Recipe("Reshape", 1, _any_rank, _reshape),
    Recipe("Permute", 1, _rank(2, 3), _permute),
    Recipe("RepeatVector", 1, _rank(1), _repeat),
    Recipe("Conv1D", 1, _rank(2), _conv("Conv1D")),
    Recipe("Conv2D", 1, _rank(3), _conv("Conv2D")),
    Recipe("SeparableConv1D", 1, _rank(2), _conv("SeparableConv1D", separable=True)),
    Recipe("SeparableConv2D", 1, _rank(3), _conv("SeparableConv2D", separable=True)),
    Recipe("DepthwiseConv1D", 1, _rank(2), _conv("DepthwiseConv1D", depthwise=True)),
    Recipe("DepthwiseConv2D", 1, _rank(3), _conv("DepthwiseConv2D", depthwise=True)),
    Recipe("Conv1DTranspose", 1, _rank(2), _conv("Conv1DTranspose", transpose=True)),
    Recipe("Conv2DTranspose", 1, _rank(3), _conv("Conv2DTranspose", transpose=True)),
    Recipe("MaxPooling1D", 1, _rank(2), _pool("MaxPooling1D")),
    Recipe("MaxPooling2D", 1, _rank(3), _pool("MaxPooling2D")),
    Recipe("AveragePooling1D", 1, _rank(2), _pool("AveragePooling1D")),
    Recipe("AveragePooling2D", 1, _rank(3), _pool("AveragePooling2D")),
    Recipe("GlobalAveragePooling1D", 1, _rank(2), _global_pool("GlobalAveragePooling1D"), passes_mask=True),
    Recipe("GlobalMaxPooling1D", 1, _rank(2), _global_pool("GlobalMaxPooling1D")),
    Recipe("GlobalAveragePooling2D", 1, _rank(3), _global_pool("GlobalAveragePooling2D")),
    Recipe("GlobalMaxPooling2D", 1, _rank(3), _global_pool("GlobalMaxPooling2D")),
    Recipe("ZeroPadding1D", 1, _rank(2), _padding_like("ZeroPadding1D", grow=True)),
    Recipe("ZeroPadding2D", 1, _rank(3), _padding_like("ZeroPadding2D", grow=True)),
    Recipe("Cropping1D", 1, _rank(2), _padding_like("Cropping1D", grow=False)),
    Recipe("Cropping2D", 1, _rank(3), _padding_like("Cropping2D", grow=False)),
    Recipe("UpSampling1D", 1, _rank(2), _upsampling("UpSampling1D")),
    Recipe("UpSampling2D", 1, _rank(3), _upsampling("UpSampling2D")),
    Recipe("SimpleRNN", 1, _rank(2), _recurrent("SimpleRNN"), passes_mask=True),
    Recipe("LSTM", 1, _rank(2), _recurrent("LSTM"), passes_mask=True),
    Recipe("GRU", 1, _rank(2), _recurrent("GRU"), passes_mask=True),
    Recipe("Bidirectional", 1, _rank(2), _bidirectional, passes_mask=True),
    Recipe("TimeDistributed", 1, _rank(2), _time_distributed),
    Recipe("Masking", 1, _rank(2), _same("Masking", lambda d, s, fw: {"mask_value": 0.0})),
    Recipe("Add", 2, _any_rank, _merge("Add"), passes_mask=True),
    Recipe("Subtract", 2, _any_rank, _merge("Subtract")),
    Recipe("Multiply", 2, _any_rank, _merge("Multiply")),
    Recipe("Average", 2, _any_rank, _merge("Average")),
    Recipe("Maximum", 2, _any_rank, _merge("Maximum")),
    Recipe("Minimum", 2, _any_rank, _merge("Minimum")),
    Recipe("Concatenate", 2, _any_rank, _concatenate),
    Recipe("Dot", 2, _rank(1), _dot),
    Recipe("Attention", 2, _rank(2), _attention),
    Recipe("MultiHeadAttention", 2, _rank(2), _multi_head),
    Recipe("UnaryOp", 1, _any_rank, _ops_unary, frameworks=("keras3",), op="ops"),
    Recipe("BinaryOp", 2, _any_rank, _ops_binary, frameworks=("keras3",), op="ops"),
    Recipe("Reduce", 1, _rank(2, 3), _ops_reduce, frameworks=("keras3",), op="ops"),
    Recipe("ExpandDims", 1, _rank(1, 2), _ops_expand, frameworks=("keras3",), op="ops"),
    Recipe("Cumsum", 1, _any_rank, _ops_cumsum, frameworks=("keras3",), op="ops"),
    Recipe("GetItem", 1, _any_rank, _ops_getitem, frameworks=("keras3",), op="ops"),
)
