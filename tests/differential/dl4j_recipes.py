"""Random Deeplearning4j networks in DL4J's own configuration vocabulary (layer classes and keys as
DL4J 1.0.0-M2.1 writes them): MultiLayerConfigurations of feed-forward, convolutional and recurrent
layers, and ComputationGraphs whose branches meet in a vertex.  The real DL4J initialises, runs and
saves them (:mod:`tests.differential.build`); shapes are DL4J's (NCHW images, NCW sequences)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from tests.differential.spec import Input, ModelSpec, Node

#: DL4J's activation classes (``Activation<name>``) and the keys each may carry
ACTIVATIONS = ("Identity", "ReLU", "ReLU6", "Sigmoid", "TanH", "HardSigmoid", "HardTanH", "SoftPlus", "SoftSign",
               "Swish", "Mish", "ELU", "SELU", "Cube", "RationalTanh", "RectifiedTanh", "GELU", "LReLU",
               "ThresholdedReLU", "Softmax")
MERGES = ("Add", "Subtract", "Product", "Average", "Max")
LOSS = {"@class": "org.nd4j.linalg.lossfunctions.impl.LossMSE"}


def _activation(draw: st.DrawFn, softmax: bool = True) -> str:
    return draw(st.sampled_from([a for a in ACTIVATIONS if softmax or a != "Softmax"]))


def _window(draw: st.DrawFn, sizes: tuple[int, ...]) -> dict[str, Any] | None:
    mode = draw(st.sampled_from(["Truncate", "Same"]))
    kernel = [draw(st.integers(1, min(3, n))) for n in sizes]
    stride = [draw(st.integers(1, 2)) for _ in sizes]
    padding = [0, 0] if mode == "Same" else [draw(st.integers(0, 1)) for _ in sizes]
    out = [math.ceil(n / s) if mode == "Same" else (n + 2 * p - k) // s + 1
           for n, k, s, p in zip(sizes, kernel, stride, padding)]
    if min(out) < 1:
        return None
    return {"kernelSize": kernel, "stride": stride, "padding": padding, "convolutionMode": mode, "_out": out}


def _ff_layer(draw: st.DrawFn, n: int) -> tuple[str, dict[str, Any], int] | None:
    # (no DropoutLayer: DL4J 1.0.0-M2.1 fails its own workspace validation on one at inference)
    choice = draw(st.sampled_from(["DenseLayer", "DenseLayer", "ActivationLayer", "BatchNormalization"]))
    if choice == "DenseLayer":
        out = draw(st.integers(1, 6))
        return choice, {"nin": n, "nout": out, "activation": _activation(draw), "hasBias": draw(st.booleans()),
                        "biasInit": draw(st.sampled_from([0.0, 0.3, -0.2]))}, out
    if choice == "ActivationLayer":
        return choice, {"activation": _activation(draw)}, n
    return choice, {"nin": n, "nout": n, "eps": draw(st.sampled_from([1e-5, 0.1])),
                    "gamma": 1.0, "beta": 0.0}, n


def _cnn_layer(draw: st.DrawFn, shape: tuple[int, int, int]) -> tuple[str, dict[str, Any], tuple[int, ...]] | None:
    c, h, w = shape
    choice = draw(st.sampled_from(["ConvolutionLayer", "ConvolutionLayer", "SubsamplingLayer", "BatchNormalization",
                                   "ZeroPaddingLayer", "Upsampling2D", "Deconvolution2D", "DepthwiseConvolution2D",
                                   "SeparableConvolution2D", "ActivationLayer"]))
    if choice in ("ConvolutionLayer", "SubsamplingLayer", "DepthwiseConvolution2D", "SeparableConvolution2D"):
        window = _window(draw, (h, w))
        if window is None:
            return None
        oh, ow = window.pop("_out")
        if choice == "SubsamplingLayer":
            window.update(poolingType=draw(st.sampled_from(["MAX", "AVG"])), avgPoolIncludePadInDivisor=False)
            return choice, window, (c, oh, ow)
        common = {**window, "activation": _activation(draw, softmax=False), "hasBias": draw(st.booleans()),
                  "biasInit": draw(st.sampled_from([0.0, 0.3]))}
        if choice == "ConvolutionLayer" and draw(st.booleans()) and window["convolutionMode"] == "Same":
            common["dilation"] = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
        if choice == "DepthwiseConvolution2D":
            dm = draw(st.integers(1, 2))
            return choice, {"nin": c, "nout": c * dm, "depthMultiplier": dm, **common}, (c * dm, oh, ow)
        out = draw(st.integers(1, 4))
        if choice == "SeparableConvolution2D":
            common["depthMultiplier"] = draw(st.integers(1, 2))
        return choice, {"nin": c, "nout": out, **common}, (out, oh, ow)
    if choice == "Deconvolution2D":
        k, s = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        return choice, {"nin": c, "nout": (out := draw(st.integers(1, 3))), "kernelSize": [k, k], "stride": [s, s],
                        "padding": [0, 0], "convolutionMode": "Truncate", "activation": _activation(draw, False),
                        "hasBias": draw(st.booleans())}, (out, (h - 1) * s + k, (w - 1) * s + k)
    if choice == "BatchNormalization":
        return choice, {"nin": c, "nout": c, "eps": draw(st.sampled_from([1e-5, 0.1])), "gamma": 1.0, "beta": 0.0}, shape
    if choice == "ZeroPaddingLayer":
        pad = [draw(st.integers(0, 2)) for _ in range(4)]
        return choice, {"padding": pad}, (c, h + pad[0] + pad[1], w + pad[2] + pad[3])
    if choice == "Upsampling2D":
        size = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
        return choice, {"size": size}, (c, h * size[0], w * size[1])
    return choice, {"activation": _activation(draw, softmax=False)}, shape


def _rnn_layer(draw: st.DrawFn, shape: tuple[int, int]) -> tuple[str, dict[str, Any], tuple[int, ...]]:
    n, steps = shape
    choice = draw(st.sampled_from(["LSTM", "recurrent.SimpleRnn"]))
    out = draw(st.integers(1, 4))
    config = {"nin": n, "nout": out, "activation": draw(st.sampled_from(["TanH", "ReLU", "Sigmoid", "SoftSign"])),
              "hasBias": draw(st.booleans())}
    if choice == "LSTM":
        config["gateActivationFn"] = {"@class": "org.nd4j.linalg.activations.impl.Activation"
                                      + draw(st.sampled_from(["Sigmoid", "HardSigmoid"]))}
        config["forgetGateBiasInit"] = draw(st.sampled_from([1.0, 0.0]))
        config.pop("hasBias")
    return choice, config, (out, steps)


@st.composite
def dl4j_networks(draw: st.DrawFn) -> ModelSpec:
    family = draw(st.sampled_from(["ff", "cnn", "rnn"]))
    shape: tuple[int, ...]
    if family == "ff":
        shape = (draw(st.integers(1, 6)),)
    elif family == "cnn":
        shape = (draw(st.integers(1, 3)), draw(st.integers(2, 7)), draw(st.integers(2, 7)))
    else:
        shape = (draw(st.integers(1, 4)), draw(st.integers(1, 5)))
    first, nodes, preprocessors = shape, [], {}
    graph = family != "rnn" and draw(st.integers(0, 3)) == 0
    for _ in range(draw(st.integers(1, 5))):
        made = (_ff_layer(draw, shape[0]) if len(shape) == 1 else
                _cnn_layer(draw, shape) if len(shape) == 3 else _rnn_layer(draw, shape))  # type: ignore[arg-type]
        if made is None:
            continue
        cls, config, out = made
        nodes.append(Node("dl4j", cls, config, (len(nodes),), kind=cls))
        shape = out if isinstance(out, tuple) else (out,)
    if len(shape) == 3 and draw(st.booleans()):  # to features: a global pooling, or a preprocessor and dense layers
        pooling = draw(st.sampled_from(["MAX", "AVG"]))
        nodes.append(Node("dl4j", "GlobalPoolingLayer", {"poolingType": pooling, "collapseDimensions": True},
                          (len(nodes),), kind="GlobalPoolingLayer"))
        shape = (shape[0],)
    elif len(shape) == 3 and not graph:
        preprocessors[len(nodes)] = {"inputHeight": shape[1], "inputWidth": shape[2], "numChannels": shape[0]}
        shape = (math.prod(shape),)
    merge = None
    if graph and nodes:
        merge = draw(st.sampled_from(["MergeVertex", *MERGES]))
    loss = {1: "OutputLayer", 2: "RnnOutputLayer", 3: "CnnLossLayer"}[len(shape)]
    units = draw(st.integers(1, 4))
    last = {"lossFn": LOSS, "activation": _activation(draw)}
    if loss != "CnnLossLayer":
        last.update(nin=shape[0] * (2 if merge == "MergeVertex" else 1), nout=units, hasBias=draw(st.booleans()))
    nodes.append(Node("dl4j", loss, last, (len(nodes),), kind=loss))
    return ModelSpec(framework="dl4j", save_as="zip", inputs=(Input(first),), nodes=tuple(nodes),
                     outputs=(len(nodes),), sequential=not graph, seed=draw(st.integers(0, 2**31 - 1)),
                     extra={"preprocessors": {str(k): v for k, v in preprocessors.items()}, "merge": merge})
