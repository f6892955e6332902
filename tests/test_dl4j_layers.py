"""Deeplearning4j export of the layers DL4J 1.0.0-M2.1 can compute beyond the basic set: each small Keras 3
model goes Keras -> DL4J zip -> kconvert's reader -> runtime and must reproduce Keras's predictions.

The layers: channels_first Conv1D (NCW), RepeatVector, PReLU (PReLULayer), Rescaling and Normalization (as
a BatchNormalization with epsilon 0), Conv2DTranspose / Conv3DTranspose (Deconvolution2D/3D), Cropping3D
and ZeroPadding3D (NCDHW between Permutes), UpSampling1D/3D, 1D pooling, padding and cropping over
(batch, time, features) and 1D depthwise and separable convolutions, strided and dilated (as 2D
layers between Reshapes), AlphaDropout / GaussianNoise / GaussianDropout
(DL4J's dropouts), global pooling with keepdims, softmax and batch normalization over a sequence's
features, models mixing image layouts, and graphs whose first layer records no input size (read back
from ``networkInputTypes``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.schemas import validate
from kconvert.verification.inputs import generate_inputs
from tests.conftest import REALWORLD, require_shared
from tests.helpers import randomize_weights

keras = pytest.importorskip("keras")
ATOL = RTOL = 1e-5


def _models() -> dict[str, tuple[Any, list[np.ndarray]]]:
    L = keras.layers
    rng = np.random.default_rng(1)
    x = lambda *s: rng.normal(0, 1, (2, *s)).astype("float32")  # noqa: E731
    out: dict[str, tuple[Any, list[np.ndarray]]] = {}

    seq = keras.Input((8, 5))
    s = L.Conv1D(4, 3, padding="same", data_format="channels_first", activation="tanh")(seq)  # (batch, 4, 5)
    s = L.MaxPooling1D(2, data_format="channels_first")(s)
    out["conv1d_channels_first"] = keras.Model(seq, L.Flatten()(s)), [x(8, 5)]

    flat = keras.Input((6,))
    r = L.RepeatVector(4)(L.Dense(3)(flat))
    r = L.LSTM(5, return_sequences=True)(r)
    out["repeat_vector"] = keras.Model(flat, L.Softmax()(r)), [x(6)]

    img = keras.Input((9, 9, 3))
    p = L.PReLU(shared_axes=[1, 2])(L.Conv2D(4, 3)(img))
    p = L.PReLU()(L.Conv2D(2, 3, padding="same")(p))
    out["prelu"] = keras.Model(img, L.Flatten()(p)), [x(9, 9, 3)]

    feat = keras.Input((7,))
    out["prelu_dense"] = keras.Model(feat, L.PReLU()(L.Dense(5)(feat))), [x(7)]

    pic = keras.Input((8, 8, 3))
    h = L.Rescaling(1 / 127.5, offset=-1)(pic)
    norm = L.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1e-20])
    h = norm(h)
    h = L.Conv2D(4, 3, activation="relu")(h)
    h = L.Conv2DTranspose(3, 3, strides=2, padding="same")(h)
    h = L.Conv2DTranspose(2, 2, strides=1, padding="valid", activation="relu")(h)
    h = L.GlobalAveragePooling2D(keepdims=True)(h)
    h = L.Conv2D(3, 1)(h)
    out["images"] = keras.Model(pic, L.Flatten()(h)), [rng.uniform(0, 255, (2, 8, 8, 3)).astype("float32")]

    # one mean and variance for every value: a Rescaling, then a BatchNormalization
    every = keras.Input((5, 3))
    out["normalization_of_every_value"] = keras.Model(every, L.Normalization(axis=None, mean=0.5, variance=2.0)(
        L.Dense(4)(every))), [x(5, 3)]

    vol = keras.Input((5, 6, 4, 2))
    v = L.ZeroPadding3D(((1, 0), (0, 1), (1, 1)))(vol)
    v = L.Conv3DTranspose(3, 2, strides=2, padding="same")(v)
    v = L.Cropping3D(((1, 2), (0, 1), (2, 0)))(v)
    v = L.UpSampling3D((1, 2, 1))(v)
    v = L.Conv3D(2, 3)(v)
    out["volumes"] = keras.Model(vol, L.Flatten()(v)), [x(5, 6, 4, 2)]

    steps = keras.Input((9, 4))
    t = L.ZeroPadding1D((1, 2))(steps)
    t = L.MaxPooling1D(2)(t)
    t = L.UpSampling1D(3)(t)
    t = L.Cropping1D((2, 1))(t)
    t = L.AveragePooling1D(3, strides=2, padding="same")(t)
    t = L.BatchNormalization()(t)
    t = L.GaussianNoise(0.3)(t)
    t = L.GaussianDropout(0.2)(t)
    t = L.AlphaDropout(0.1)(t)
    t = L.LSTM(3, return_sequences=True)(t)
    out["sequences"] = keras.Model(steps, L.Softmax(axis=-1)(t)), [x(9, 4)]

    track = keras.Input((11, 3))
    d = L.DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=2, activation="relu")(track)
    d = L.SeparableConv1D(4, 2, strides=2, depth_multiplier=2)(d)
    d = L.DepthwiseConv1D(2, dilation_rate=2, padding="same")(d)
    out["depthwise_1d"] = keras.Model(track, L.Flatten()(d)), [x(11, 3)]

    # no layer records the input size: a ComputationGraph with networkInputTypes
    free = keras.Input((6, 5))
    out["activations_only"] = keras.Model(free, L.Activation("tanh")(L.Dropout(0.2)(free))), [x(6, 5)]

    # a Bidirectional returning its last step: both directions side by side, the backward one reversed in time
    words = keras.Input((7, 4))
    b = L.Bidirectional(L.LSTM(3))(words)
    c = L.Bidirectional(L.SimpleRNN(3), merge_mode="ave")(L.Conv1D(3, 2)(words))
    out["bidirectional_last_step"] = keras.Model(words, L.Concatenate()([b, c])), [x(7, 4)]

    # DenseNet121 and ResNet50 start with ZeroPadding2D, which records no input size
    padded = keras.Input((7, 7, 2))
    z = L.Conv2D(3, 3, strides=2)(L.ZeroPadding2D(((1, 2), (2, 1)))(padded))
    out["padding_first"] = keras.Model(padded, L.MaxPooling2D()(z)), [x(7, 7, 2)]

    # InceptionResNetV2's residual scale
    res = keras.Input((6, 6, 3))
    a = L.Conv2D(3, 1)(res)
    out["custom_scale"] = keras.Model(res, L.Add()([res, L.Rescaling(0.17)(a)])), [x(6, 6, 3)]
    return out


def _predict(model: Any, xs: list[np.ndarray], saved: Path) -> np.ndarray:
    """Keras's predictions, or kconvert's runtime's on the saved source where this CPU's TensorFlow
    cannot run channels_first convolutions (the runtime is proven against Keras where it can)."""
    from tests.conftest import keras_runs_channels_first

    if "channels_first" in saved.stem and not keras_runs_channels_first():
        return kconvert.run(kconvert.load(saved), xs, device="cpu")[0]
    return model.predict(xs[0] if len(xs) == 1 else xs, verbose=0)


@pytest.mark.parametrize("name", list(_models()))
def test_new_layers_round_trip(tmp_path: Path, name: str) -> None:
    model, xs = _models()[name]
    randomize_weights(model, np.random.default_rng(4))
    for layer in model.layers:  # PReLU alphas of both signs
        if type(layer).__name__ == "PReLU":
            layer.set_weights([np.random.default_rng(5).normal(0, 1, layer.get_weights()[0].shape)])
    model.save(tmp_path / f"{name}.keras")
    written = kconvert.convert(tmp_path / f"{name}.keras", "dl4j", tmp_path / "out")
    document = json.loads((tmp_path / "out" / "configuration.json").read_text())
    validate(document, "dl4j-computationgraph" if "vertices" in document else "dl4j-multilayer")
    want = _predict(model, xs, tmp_path / f"{name}.keras")
    (got,) = kconvert.run(kconvert.load(written.files[-1]), xs, device="cpu")
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL, err_msg=name)
    assert np.ptp(want) > 1e-3


#: real-world files Deeplearning4j export refused before these layers: mixed image layouts, no layer
#: recording the input size, PReLU, a softmax over a sequence, Cropping3D, MaxPooling1D, RepeatVector,
#: batch normalization over a sequence, Bidirectionals returning their last step
REALWORLD_FILES = ["tfkeras/adv_act_1.h5", "tfkeras/adv_act_2.h5", "tfkeras/adv_act_4.h5", "tfkeras/adv_act_5.h5",
                   "tfkeras/cnn2d_55.h5", "weights/simpleconv2d.hdf5", "tfkeras/cnn3d_18.h5",
                   "tfkeras/issue_9349.hdf5", "tfkeras/rnn_130.h5", "weights/issue_9560.h5",
                   "weights/bidirectional_lstm_no_return_sequences_tensorflow_1.h5",
                   "weights/bidirectional_lstm_no_return_sequences_theano_2.h5"]


@pytest.mark.parametrize("name", REALWORLD_FILES)
def test_realworld_files_now_written(tmp_path: Path, name: str) -> None:
    source = kconvert.load(require_shared(REALWORLD / "dl4j-test-resources" / name))
    written = kconvert.write(source, "dl4j", tmp_path / "out")
    xs = generate_inputs(source, 2, 0)
    want = kconvert.run(source, xs, device="cpu")
    got = kconvert.run(kconvert.load(written.files[-1]), xs, device="cpu")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=name)


@pytest.mark.parametrize("make,fragment", [
    (lambda L: L.GRU(3), "GRU"),
    (lambda L: L.Normalization(axis=1, mean=np.arange(5.0), variance=np.full(5, 2.0)),
     "Normalization per feature of the last axis only"),
])
def test_what_dl4j_cannot_compute_is_refused(tmp_path: Path, make: Any, fragment: str) -> None:
    inp = keras.Input((5, 3))
    model = keras.Model(inp, make(keras.layers)(inp))
    model.save(tmp_path / "m.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match=fragment) as info:
        kconvert.convert(tmp_path / "m.keras", "dl4j", tmp_path / "out")
    assert info.value.layer and not (tmp_path / "out").exists()


def test_new_layers_in_real_dl4j(tmp_path: Path) -> None:
    """Every model above, loaded and run by the real Deeplearning4j 1.0.0-M2.1, computes what Keras
    predicts (skipped without Java and the harness)."""
    from kconvert.verification.dl4j_runner import IMPLEMENTATION, run_dl4j_many
    from tests.conftest import require_dl4j

    require_dl4j()
    jobs, expected = [], []
    for name, (model, xs) in _models().items():
        randomize_weights(model, np.random.default_rng(4))
        model.save(tmp_path / f"{name}.keras")
        written = kconvert.convert(tmp_path / f"{name}.keras", "dl4j", tmp_path / name)
        jobs.append((written.files[-1], xs, []))
        expected.append((name, _predict(model, xs, tmp_path / f"{name}.keras")))
    for (name, want), run in zip(expected, run_dl4j_many(jobs)):
        assert run.error is None and run.implementation == IMPLEMENTATION, (name, run.error)
        np.testing.assert_allclose(run.outputs[0].reshape(want.shape), want, atol=1e-4, rtol=1e-4, err_msg=name)
