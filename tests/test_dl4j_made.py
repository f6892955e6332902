"""Networks the real Deeplearning4j (1.0.0-M2.1) made: configurations written here as DL4J's own JSON,
initialised with DL4J's random parameters, run and saved by DL4J (one JVM for all), then read by
kconvert.  Each computes in kconvert's runtime what it computes in DL4J, and what kconvert writes for
Keras 3 loads there and computes the same: convolution weights (DL4J holds the bias first) in Keras's
order, input sizes a MultiLayerConfiguration does not record inferred from what it does record, and
DL4J's own activations as the formulas DL4J computes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from tests.conftest import SHARED_FIXTURES, require_dl4j, require_shared
from tests.dl4j_networks import VERTICES, activation, dl4j_made, graph, layer, multilayer, preprocessor

ATOL = RTOL = 1e-4
#: DL4J activations kconvert reads, each on a dense layer
ACTIVATIONS = ("Cube", "HardTanH", "RationalTanh", "RectifiedTanh")
LOSS = {"@class": "org.nd4j.linalg.lossfunctions.impl.LossMSE"}


def _conv(n_in: int, n_out: int, **keys: Any) -> dict[str, Any]:
    return layer("ConvolutionLayer", nin=n_in, nout=n_out, kernelSize=[3, 3], stride=[1, 1], padding=[0, 0],
                 convolutionMode="Truncate", activation="ReLU", **keys)


def _networks(rng: np.random.Generator) -> dict[str, tuple[dict[str, Any], list[np.ndarray]]]:
    image = rng.normal(size=(2, 2, 12, 10)).astype("float32")
    features = (rng.normal(size=(2, 6)) * 2).astype("float32")
    # LeNet's shape: the input's height and width are recorded only by the preprocessor before the dense layers
    lenet = multilayer([
        _conv(2, 4),
        layer("SubsamplingLayer", kernelSize=[2, 2], stride=[2, 2], padding=[0, 0], poolingType="MAX",
              convolutionMode="Truncate"),
        layer("DenseLayer", nin=4 * 5 * 4, nout=5, activation="TanH"),
        layer("OutputLayer", nin=5, nout=3, activation="Softmax", lossFn=LOSS)],
        {2: preprocessor("CnnToFeedForwardPreProcessor", inputHeight=5, inputWidth=4, numChannels=4)})
    # upsampling by a transposed convolution: no size recorded anywhere
    deconvolution = multilayer([
        _conv(2, 3),
        layer("Deconvolution2D", nin=3, nout=2, kernelSize=[2, 2], stride=[2, 2], padding=[0, 0],
              convolutionMode="Truncate"),
        layer("CnnLossLayer", lossFn=LOSS)])
    dense = {f"activation_{name}": (multilayer([
        layer("DenseLayer", nin=6, nout=7, activationFn=activation(name)),
        layer("OutputLayer", nin=7, nout=2, lossFn=LOSS)]), [features]) for name in ACTIVATIONS}
    # RReLU at inference: not the mean slope (l + u) / 2 on negatives but max(x, (l + u) / 2)
    rrelu = multilayer([layer("DenseLayer", nin=6, nout=7),
                        layer("ActivationLayer", activationFn=activation("RReLU", l=0.2, u=0.6)),
                        layer("OutputLayer", nin=7, nout=2, lossFn=LOSS)])
    dense["activation_RReLU"] = (rrelu, [features])
    branches = graph(["in"], {
        "conv": (_conv(2, 3, cnn2dDataFormat="NCHW"), ["in"]),
        "pool": (layer("GlobalPoolingLayer", poolingType="AVG", collapseDimensions=True), ["conv"]),
        "out": (layer("OutputLayer", nin=3, nout=2, lossFn=LOSS), ["pool"])}, ["out"])
    # a network starting with padding: the next layer's nIn says how many channels it takes
    padded = multilayer([
        layer("ZeroPaddingLayer", padding=[1, 0, 2, 1]),
        _conv(2, 3),
        layer("GlobalPoolingLayer", poolingType="MAX", collapseDimensions=True),
        layer("OutputLayer", nin=3, nout=2, lossFn=LOSS)])
    # PreprocessorVertex of several IR layers (once "too many values to unpack"): a flatten of NCHW data, and a
    # ComposableInputPreProcessor flattening then reshaping to another image
    flat = preprocessor("CnnToFeedForwardPreProcessor", inputHeight=10, inputWidth=8, numChannels=3, format="NCHW")
    composed = preprocessor("ComposableInputPreProcessor", inputPreProcessors=[
        flat, preprocessor("FeedForwardToCnnPreProcessor", inputHeight=8, inputWidth=10, numChannels=3)])
    vertex = lambda p: {"@class": VERTICES + "PreprocessorVertex", "preProcessor": p}  # noqa: E731
    flattened = graph(["in"], {
        "conv": (_conv(2, 3, cnn2dDataFormat="NCHW"), ["in"]), "flat": (vertex(flat), ["conv"]),
        "out": (layer("OutputLayer", nin=3 * 10 * 8, nout=2, lossFn=LOSS), ["flat"])}, ["out"])
    composable = graph(["in"], {
        "conv": (_conv(2, 3, cnn2dDataFormat="NCHW"), ["in"]), "composed": (vertex(composed), ["conv"]),
        "reconv": (_conv(3, 2, cnn2dDataFormat="NCHW"), ["composed"]),
        "pool": (layer("GlobalPoolingLayer", poolingType="MAX", collapseDimensions=True), ["reconv"]),
        "out": (layer("OutputLayer", nin=2, nout=2, lossFn=LOSS), ["pool"])}, ["out"])
    return {"lenet": (lenet, [image]), "padded": (padded, [image]), "deconvolution": (deconvolution, [image]), "graph": (branches, [image]),
            "vertex_flatten_nchw": (flattened, [image]), "vertex_composable": (composable, [image]), **dense}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any, list[np.ndarray]]]:
    require_dl4j()
    networks = _networks(np.random.default_rng(5))
    runs = dl4j_made(networks, tmp_path_factory.mktemp("dl4j-made"))
    return {name: (*runs[name], networks[name][1]) for name in networks}


@pytest.mark.parametrize("name", ["lenet", "deconvolution", "graph", "padded", "vertex_flatten_nchw",
                                  "vertex_composable", *(f"activation_{a}" for a in (*ACTIVATIONS, "RReLU"))])
def test_kconvert_computes_what_dl4j_computes(made: dict[str, Any], name: str) -> None:
    path, run, xs = made[name]
    assert run.error is None, run.error
    with kconvert.load(path) as model:
        (got,) = kconvert.run(model, xs, device="cpu")
    np.testing.assert_allclose(got, run.outputs[0], atol=ATOL, rtol=RTOL, err_msg=name)


def test_input_size_follows_from_the_preprocessor(made: dict[str, Any]) -> None:
    """12 x 10 and 13 x 11 both give the 5 x 4 the dense layers take (and DL4J runs both): the sizes
    stay unknown, and the note says which fit."""
    with kconvert.load(made["lenet"][0]) as model:
        assert model.input_shapes == [(None, 2, None, None)]
        (note,) = model.report.notes
        assert note.category == "assumed" and "axis 2: sizes 12 to 13; axis 3: sizes 10 to 11" in note.message
    with kconvert.load(made["lenet"][0], input_shapes={"input": (2, 13, 11)}) as model:
        assert model.input_shapes == [(None, 2, 13, 11)] and not model.report.notes
    with pytest.raises(IncompatibleKerasConfigurationException, match="does not fit the network's input"):
        kconvert.load(made["lenet"][0], input_shapes={"input": (3, 13, 11)})


@pytest.mark.parametrize("name", ["lenet", "deconvolution", "graph", "padded"])
def test_keras_loads_what_kconvert_writes_from_dl4j(made: dict[str, Any], name: str, tmp_path: Path) -> None:
    """Convolution weights in Keras's order, whatever order DL4J holds them in: Keras 3 loads the
    archive and computes what DL4J computed."""
    keras = pytest.importorskip("keras")
    path, run, xs = made[name]
    given = {"input_shapes": {"input": xs[0].shape[1:]}} if name == "lenet" else {}  # several sizes fit LeNet
    with kconvert.load(path, **given) as model:
        kconvert.write(model, "keras", tmp_path / "model.keras", layout="channels_last")
    got = keras.saving.load_model(tmp_path / "model.keras").predict(xs[0], verbose=0)
    np.testing.assert_allclose(got, run.outputs[0], atol=ATOL, rtol=RTOL, err_msg=name)


def test_real_dl4j_zips_load_in_keras(tmp_path: Path) -> None:
    """The real DL4J zips, written for Keras 3, load there and compute what kconvert's runtime computes."""
    keras = pytest.importorskip("keras")
    zips = sorted(require_shared(SHARED_FIXTURES / "dl4j").glob("**/*.zip"))
    assert zips
    written = 0
    for i, path in enumerate(zips):
        with kconvert.load(path) as model:
            xs = [np.random.default_rng(i).normal(size=(2, *(d or 3 for d in s[1:]))).astype("float32")
                  for s in model.input_shapes]
            want = kconvert.run(model, xs, device="cpu")
            try:
                kconvert.write(model, "keras", tmp_path / f"{i}.keras", layout="channels_last")
            except IncompatibleKerasConfigurationException:
                continue  # a layer Keras lacks (PeepholeLSTM): refused naming it
        written += 1
        got = keras.saving.load_model(tmp_path / f"{i}.keras").predict(xs if len(xs) > 1 else xs[0], verbose=0)
        for g, w in zip(got if isinstance(got, list) else [got], want):
            np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=path.name)
    assert written >= 2, written


def test_an_unknown_size_is_asked_for(tmp_path: Path) -> None:
    """Where nothing decides an input's size and a target makes weights from it, the refusal asks for it."""
    config = tmp_path / "config.json"
    config.write_text('{"class_name": "Sequential", "config": {"name": "s", "layers": ['
                      '{"class_name": "InputLayer", "config": {"batch_shape": [null, null, 3], "name": "image"}},'
                      '{"class_name": "Flatten", "config": {"name": "flatten"}},'
                      '{"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}, "keras_version": "3.3.3"}')
    model = kconvert.load(config)
    with pytest.raises(IncompatibleKerasConfigurationException, match="--input-shape") as info:
        kconvert.write(model, "json", tmp_path / "out.json")
    assert info.value.layer == "dense"


def test_cli_takes_the_input_shape(made: dict[str, Any], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kconvert.cli import EXIT_OK, main

    runner = CliRunner()
    source = str(made["lenet"][0])
    done = runner.invoke(main, [source, "--to", "json", str(tmp_path / "a.json"), "--input-shape", "input=2,13,11"])
    assert done.exit_code == EXIT_OK, done.output
    (first, *_) = json.loads((tmp_path / "a.json").read_text())["config"]["layers"]
    assert first["config"]["batch_shape"] == [None, 2, 13, 11]
    bad = runner.invoke(main, [source, "--to", "json", str(tmp_path / "b.json"), "--input-shape", "input=2,x"])
    assert bad.exit_code != EXIT_OK and "--input-shape" in bad.output
