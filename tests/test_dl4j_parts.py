"""DL4J's own layers, vertices and preprocessors that are not Keras's, each in a network the real
Deeplearning4j (1.0.0-M2.1) initialises, runs and saves (one JVM for all): kconvert reads each as the
exact composition of IR kinds DL4J computes, and its runtime matches DL4J's output; what kconvert's
per-sample models cannot hold (blocks moved into the batch axis) is refused naming the layer and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from tests.conftest import require_dl4j
from tests.dl4j_networks import VERTICES, dl4j_made, graph, layer, multilayer, preprocessor

ATOL = RTOL = 1e-4
LOSS = {"@class": "org.nd4j.linalg.lossfunctions.impl.LossMSE"}
FEATURES = {"@class": "org.deeplearning4j.nn.conf.inputs.InputType$InputTypeFeedForward", "size": 6}
SEQUENCES = {"@class": "org.deeplearning4j.nn.conf.inputs.InputType$InputTypeRecurrent", "size": 3,
             "timeSeriesLength": 5, "format": "NCW"}


def _vertex(cls: str, **keys: Any) -> dict[str, Any]:
    return {"@class": VERTICES + cls, **keys}


def _conv(**keys: Any) -> dict[str, Any]:
    """A convolution (by default declaring 3 input channels, so the network's input is known)."""
    window = {"nin": 3, "nout": 6, "kernelSize": [3, 3], "stride": [1, 1], "padding": [0, 0],
              "convolutionMode": "Truncate", **keys}
    return layer("ConvolutionLayer", **window)


def _images(*layers: dict[str, Any]) -> dict[str, Any]:
    return multilayer([_conv(), *layers, layer("CnnLossLayer", lossFn=LOSS)])


def _yolo() -> dict[str, Any]:
    """Yolo2OutputLayer is no BaseLayer: its own keys only (as DL4J writes them)."""
    return {"@class": "org.deeplearning4j.nn.conf.layers.objdetect.Yolo2OutputLayer", "lambdaCoord": 5.0,
            "lambdaNoObj": 0.5, "lossClassPredictions": LOSS, "lossPositionScale": LOSS, "format": "NCHW",
            "boundingBoxes": {"dataType": "DOUBLE", "shape": [2, 2], "data": [1.0, 2.0, 3.0, 0.5]}}


def _inception_resnet_parts() -> dict[str, Any]:
    """What InceptionResNetV1 (deeplearning4j-zoo) is made of, on a small image: Same convolutions with 1x3 and 3x1
    kernels on odd sizes, batch normalisation with eps 0.001 and log10 std whose configured activation DL4J does not
    apply, ScaleVertex, a residual Add, in-place tanh, Truncate max pooling, 1x1 average pooling, L2NormalizeVertex
    with eps 1e-10."""
    same = {"stride": [1, 1], "padding": [0, 0], "convolutionMode": "Same"}
    def conv(nin: int, nout: int, kernel: list[int]) -> dict[str, Any]:
        return layer("ConvolutionLayer", nin=nin, nout=nout, kernelSize=kernel, activation="ReLU", **same)
    def norm(n: int, act: str) -> dict[str, Any]:
        return layer("BatchNormalization", nin=n, nout=n, eps=0.001, decay=0.995, gamma=1.0, beta=0.0,
                     useLogStd=True, lockGammaBeta=False, minibatch=True, cnn2DFormat="NCHW", activation=act)
    pool = {"convolutionMode": "Truncate", "padding": [0, 0]}
    return graph(["input"], {
        "stem": (conv(3, 6, [3, 3]), ["input"]),
        "stem_norm": (norm(6, "ReLU"), ["stem"]),
        "wide": (conv(6, 4, [1, 3]), ["stem_norm"]),
        "tall": (conv(4, 4, [3, 1]), ["wide"]),
        "tall_norm": (norm(4, "TanH"), ["tall"]),
        "merged": (_vertex("MergeVertex", mergeAxis=1), ["stem_norm", "tall_norm"]),
        "up": (conv(10, 6, [1, 1]), ["merged"]),
        "scaled": (_vertex("ScaleVertex", scaleFactor=0.17), ["up"]),
        "identity": (layer("ActivationLayer", activation="Identity"), ["stem_norm"]),
        "sum": (_vertex("ElementWiseVertex", op="Add"), ["scaled", "identity"]),
        "tanh": (layer("ActivationLayer", activation="TanH"), ["sum"]),
        "max": (layer("SubsamplingLayer", poolingType="MAX", kernelSize=[3, 3], stride=[2, 2], **pool), ["tanh"]),
        "avg": (layer("SubsamplingLayer", poolingType="AVG", kernelSize=[1, 1], stride=[1, 1], **pool), ["max"]),
        "global": (layer("GlobalPoolingLayer", poolingType="AVG"), ["avg"]),
        "bottleneck": (layer("DenseLayer", nin=6, nout=4), ["global"]),
        "embeddings": (_vertex("L2NormalizeVertex", dimension=[1], eps=1e-10), ["bottleneck"])},
        ["embeddings", "tanh"])


def _networks(rng: np.random.Generator) -> dict[str, tuple[dict[str, Any], list[np.ndarray]]]:
    image = (rng.normal(size=(2, 3, 9, 9)) * 2).astype("float32")
    features = rng.normal(size=(2, 6)).astype("float32")
    sequence = rng.normal(size=(2, 3, 5)).astype("float32")
    pool = {"kernelSize": [3, 3], "stride": [2, 2], "padding": [1, 1], "convolutionMode": "Truncate"}
    return {
        "lrn": (_images(layer("LocalResponseNormalization", k=1.5, n=5.0, alpha=0.3, beta=0.75)), [image]),
        "lrn_even": (_images(layer("LocalResponseNormalization", k=2.0, n=4.0, alpha=0.2, beta=0.5)), [image]),
        "pnorm_pooling": (_images(layer("SubsamplingLayer", poolingType="PNORM", pnorm=3, **pool)), [image]),
        "pnorm_pooling_same": (_images(layer("SubsamplingLayer", poolingType="PNORM", pnorm=3, kernelSize=[3, 2],
                                             stride=[2, 2], padding=[0, 0], convolutionMode="Same")), [image]),
        "pnorm_pooling_same_1d": (multilayer([
            layer("Convolution1DLayer", nin=3, nout=4, kernelSize=[2, 1], stride=[1, 1], padding=[0, 0],
                  convolutionMode="Truncate", rnnDataFormat="NCW"),
            layer("Subsampling1DLayer", poolingType="PNORM", pnorm=2, kernelSize=[2, 1], stride=[2, 1], padding=[0, 0],
                  convolutionMode="Same"),
            layer("RnnLossLayer", lossFn=LOSS)]), [sequence]),
        "avg_pooling_padded": (_images(layer("SubsamplingLayer", poolingType="AVG", **pool)), [image]),
        "global_sum": (multilayer([_conv(), layer("GlobalPoolingLayer", poolingType="SUM"),
                                   layer("LossLayer", lossFn=LOSS)]), [image]),
        "global_pnorm": (multilayer([_conv(), layer("GlobalPoolingLayer", poolingType="PNORM", pnorm=2),
                                     layer("LossLayer", lossFn=LOSS)]), [image]),
        "global_max_kept": (_images(layer("GlobalPoolingLayer", poolingType="MAX", collapseDimensions=False)),
                            [image]),
        "space_to_depth": (multilayer([_conv(padding=[1, 1]),
                                       layer("SpaceToDepthLayer", blockSize=3, dataFormat="NCHW"),
                                       layer("CnnLossLayer", lossFn=LOSS)]), [image]),
        "conv_truncate_padded": (_images(_conv(nin=6, padding=[1, 2], stride=[2, 2])), [image]),
        "conv_same_padded": (_images(_conv(nin=6, padding=[1, 2], stride=[2, 2], convolutionMode="Same")), [image]),
        "center_loss": (multilayer([layer("CenterLossOutputLayer", nin=6, nout=3, activation="Softmax",
                                          lossFn=LOSS, alpha=0.1, lambda_=0.5)]), [features]),
        "yolo2": (multilayer([_conv(nout=16), _yolo()]), [image]),
        "rnn_to_feed_forward": (multilayer(
            [layer("DenseLayer", nin=3, nout=4, activation="TanH"),
             layer("RnnOutputLayer", nin=4, nout=2, lossFn=LOSS)],
            {0: preprocessor("RnnToFeedForwardPreProcessor"), 1: preprocessor("FeedForwardToRnnPreProcessor")}),
            [sequence]),
        "vertices": (graph(["in", "s"], {
            "subset": (_vertex("SubsetVertex", **{"from": 1, "to": 3}), ["in"]),
            "l2": (_vertex("L2NormalizeVertex", eps=1e-8), ["in"]),
            "scale": (_vertex("ScaleVertex", scaleFactor=2.5), ["in"]),
            "shift": (_vertex("ShiftVertex", shiftFactor=-1.5), ["in"]),
            "reshape": (_vertex("ReshapeVertex", reshapeOrder="c", newShape=[-1, 2, 3]), ["in"]),
            "last": (_vertex("rnn.LastTimeStepVertex", maskArrayInputName="s"), ["s"]),
            "repeated": (_vertex("rnn.DuplicateToTimeSeriesVertex", inputName="s"), ["in", "s"])},
            ["subset", "l2", "scale", "shift", "reshape", "last", "repeated"], [FEATURES, SEQUENCES]),
            [features, sequence]),
        "inception_resnet_parts": (_inception_resnet_parts(), [image]),
        "in_place_multilayer": (multilayer([layer("DenseLayer", nin=6, nout=5),
                                            layer("ActivationLayer", activation="ReLU"),
                                            layer("DenseLayer", nin=5, nout=3)]), [features]),
        "in_place_graph": (graph(["input"], {
            "dense": (layer("DenseLayer", nin=6, nout=5), ["input"]),
            "relu": (layer("ActivationLayer", activation="ReLU"), ["dense"]),
            "out": (layer("DenseLayer", nin=5, nout=3), ["relu"])}, ["out"]), [features]),
        "space_to_batch": (multilayer([layer("SpaceToBatchLayer", blocks=[3, 3], padding=[[0, 0], [0, 0]]),
                                       layer("CnnLossLayer", lossFn=LOSS)]), [image]),
        "stack": (graph(["in", "s"], {"stack": (_vertex("StackVertex"), ["in", "s"])}, ["stack"]),
                  [features, features]),
        "max_pooling_padded": (_images(layer("SubsamplingLayer", poolingType="MAX", **pool)), [image]),
    }


#: what kconvert refuses, and the layer its refusal names
REFUSED = {"space_to_batch": ("layer0", "batch axis"), "stack": ("stack", "batch axis"),
           "max_pooling_padded": ("layer1", "leaves the padding out of the maximum")}


#: networks whose layer is followed by an in-place activation (ReLU overwrites its input in DL4J): the layer's
#: activations the harness reports (what `verify` blames a layer by)
IN_PLACE = {"in_place_multilayer": ["layer0"], "in_place_graph": ["dense"]}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any, list[np.ndarray]]]:
    require_dl4j()
    networks = _networks(np.random.default_rng(11))
    runs = dl4j_made(networks, tmp_path_factory.mktemp("dl4j-parts"), IN_PLACE)
    return {name: (*runs[name], networks[name][1]) for name in networks}


def _given(path: Path, xs: list[np.ndarray]) -> dict[str, tuple[int, ...]]:
    """Each input's shape: DL4J saves no input types, and a graph starting with vertices records no size."""
    names = ["in", "s"] if len(xs) == 2 else ["input"]
    return dict(zip(names, (x.shape[1:] for x in xs)))


@pytest.mark.parametrize("name", [n for n in _networks(np.random.default_rng(0)) if n not in REFUSED])
def test_kconvert_computes_what_dl4j_computes(made: dict[str, Any], name: str) -> None:
    path, run, xs = made[name]
    assert run.error is None, run.error
    with kconvert.load(path, input_shapes=_given(path, xs)) as model:
        got = kconvert.run(model, xs, device="cpu")
    assert len(got) == len(run.outputs)
    for g, want in zip(got, run.outputs):
        np.testing.assert_allclose(g, want, atol=ATOL, rtol=RTOL, err_msg=name)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_a_per_sample_model_cannot_hold_is_refused(made: dict[str, Any], name: str) -> None:
    path, run, xs = made[name]
    layer_name, why = REFUSED[name]
    with pytest.raises(IncompatibleKerasConfigurationException, match=why) as info:
        kconvert.load(path, input_shapes=_given(path, xs))
    assert info.value.layer == layer_name


def test_rnn_to_feed_forward_rows_are_dl4j_s_steps(made: dict[str, Any], tmp_path: Path) -> None:
    """A network ending in feed-forward rows after RnnToFeedForward: DL4J returns (steps x batch, features),
    step-major; kconvert keeps each sample's steps together, (batch, steps, features)."""
    networks = {"rows": (multilayer([layer("DenseLayer", nin=3, nout=4, activation="TanH")],
                                    {0: preprocessor("RnnToFeedForwardPreProcessor")}),
                         [np.random.default_rng(2).normal(size=(2, 3, 5)).astype("float32")])}
    ((path, run),) = dl4j_made(networks, tmp_path).values()
    with kconvert.load(path) as model:
        (got,) = kconvert.run(model, networks["rows"][1], device="cpu")
    assert got.shape == (2, 5, 4) and run.outputs[0].shape == (10, 4)
    np.testing.assert_allclose(got.transpose(1, 0, 2).reshape(10, 4), run.outputs[0], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_a_layer_s_activations_are_its_own_not_the_in_place_activation_s(made: dict[str, Any], name: str) -> None:
    """The harness reports each layer's activations from a pass stopping at that layer (feedForwardToLayer; a
    graph's by its position in the topological order), so the ReLU after it has not yet overwritten them: they
    equal kconvert's activations of that layer, negative entries included, and `verify` blames the layer that
    really differs."""
    path, run, xs = made[name]
    (layer_name,) = IN_PLACE[name]
    assert run.error is None, run.error
    with kconvert.load(path, input_shapes=_given(path, xs)) as model:
        _, activations = kconvert.run(model, xs, device="cpu", activations=True)
    ours = activations[layer_name][0]
    assert (ours < 0).any()  # what the in-place ReLU would have zeroed
    np.testing.assert_allclose(run.activations[layer_name], ours, atol=ATOL, rtol=RTOL)
