"""ImageNet helpers against Keras's own ``imagenet_utils`` and the class list Keras applications use."""

from __future__ import annotations

import configparser

import numpy as np
import pytest

import kconvert
from kconvert.pretrained.imagenet import classes, decode_predictions, preprocess_input
from tests.conftest import ROOT

SHAPES = {"channels_last": [(2, 5, 6, 3), (5, 6, 3)], "channels_first": [(2, 3, 5, 6), (3, 5, 6)]}


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8"])
def test_preprocessing_matches_keras(mode: str, data_format: str, dtype: str) -> None:
    imagenet_utils = pytest.importorskip("keras.applications.imagenet_utils")
    rng = np.random.default_rng(0)
    for shape in SHAPES[data_format]:
        x = (rng.random(shape) * 255).astype(dtype)
        before = x.copy()
        ours = preprocess_input(x, mode, data_format)
        theirs = imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-5)
        np.testing.assert_array_equal(x, before)  # the caller's array is left alone


def test_caffe_flips_to_bgr_and_centres_each_channel() -> None:
    pixel = np.array([[[10.0, 20.0, 30.0]]])  # one RGB pixel
    np.testing.assert_allclose(preprocess_input(pixel)[0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68])


@pytest.mark.parametrize("bad", [dict(mode="keras"), dict(data_format="nhwc"), dict(shape=(4, 4)),
                                 dict(shape=(2, 4, 4, 4))])
def test_bad_arguments_are_refused(bad: dict) -> None:
    x = np.zeros(bad.pop("shape", (2, 4, 4, 3)))
    with pytest.raises(ValueError):
        preprocess_input(x, **bad)


def test_the_class_list_is_keras_applications_order() -> None:
    table = classes()
    assert len(table) == 1000 and len({wnid for wnid, _ in table}) == 1000
    assert [wnid for wnid, _ in table] == sorted(wnid for wnid, _ in table)  # Keras scores sorted WordNet ids
    assert table[0] == ("n01440764", "tench") and table[1] == ("n01443537", "goldfish")
    assert table[281] == ("n02123045", "tabby") and table[999] == ("n15075141", "toilet_tissue")
    assert table[134][1] == table[517][1] == "crane" and table[638][1] == table[639][1] == "maillot"


def test_decode_predictions_ranks_each_row() -> None:
    preds = np.zeros((2, 1000), dtype="float32")
    preds[0, [281, 0, 999]] = [0.7, 0.2, 0.1]
    preds[1, [5, 6]] = 0.5  # a tie: class order decides
    decoded = decode_predictions(preds, top=3)
    assert decoded[0] == [("n02123045", "tabby", pytest.approx(0.7)), ("n01440764", "tench", pytest.approx(0.2)),
                          ("n15075141", "toilet_tissue", pytest.approx(0.1))]
    assert [label for _, label, _ in decoded[1][:2]] == [classes()[5][1], classes()[6][1]]
    assert kconvert.imagenet.decode_predictions is decode_predictions
    for bad in (np.zeros(1000), np.zeros((1, 10))):
        with pytest.raises(ValueError, match="1000"):
            decode_predictions(bad)


def test_the_class_list_ships_with_the_package() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert "imagenet_classes.tsv" in config["options.package_data"]["kconvert.pretrained"]
