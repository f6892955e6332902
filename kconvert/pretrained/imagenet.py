"""ImageNet preprocessing and class decoding, as ``keras.applications.imagenet_utils`` does them.

A converted VGG16/ResNet50/MobileNet computes what the original computes only on inputs prepared
the same way, and its 1,000 scores mean something only with the class list: both live here, with
the class list shipped as a data file (``imagenet_classes.tsv``), never downloaded.

Unlike Keras, :func:`preprocess_input` never changes the caller's array: it returns a new one.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np

Mode = Literal["caffe", "tf", "torch"]
DataFormat = Literal["channels_last", "channels_first"]

#: per-channel means and standard deviations of each mode (RGB order, after any BGR flip for caffe)
_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR, on 0..255 pixels
_TORCH_MEAN, _TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # RGB, on 0..1 pixels


def preprocess_input(x: np.ndarray, mode: Mode = "caffe", data_format: DataFormat = "channels_last") -> np.ndarray:
    """RGB images with pixels in 0..255 (one image or a batch) prepared for an ImageNet model:

    * ``caffe`` (VGG16, ResNet50): RGB -> BGR, then each channel minus the ImageNet mean;
    * ``tf`` (MobileNet, Inception, Xception): scaled to -1..1;
    * ``torch`` (DenseNet): scaled to 0..1, then each channel standardised.

    Integer input becomes float32, float input keeps its precision, as in Keras."""
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"mode must be 'caffe', 'tf' or 'torch', got {mode!r}")
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    x = np.array(x, dtype=None if np.issubdtype(np.asarray(x).dtype, np.floating) else np.float32, copy=True)
    if x.ndim < 3:
        raise ValueError(f"expected an image (3 dimensions) or a batch of images (4), got shape {x.shape}")
    axis = (0 if x.ndim == 3 else 1) if data_format == "channels_first" else x.ndim - 1
    if x.shape[axis] != 3:
        raise ValueError(f"expected 3 colour channels on axis {axis} ({data_format}), got shape {x.shape}")
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        mean, std = _TORCH_MEAN, _TORCH_STD
        x = x / 255.0
    else:
        x = np.flip(x, axis=axis).copy()  # RGB -> BGR
        mean, std = _CAFFE_MEAN, None
    shape = [1] * x.ndim
    shape[axis] = 3
    x = x - np.asarray(mean, dtype=x.dtype).reshape(shape)
    if std is not None:
        x = x / np.asarray(std, dtype=x.dtype).reshape(shape)
    return x


@lru_cache(maxsize=None)
def classes() -> tuple[tuple[str, str], ...]:
    """The 1,000 classes in score order: (WordNet id, label), e.g. ('n01440764', 'tench')."""
    text = resources.files("kconvert.pretrained").joinpath("imagenet_classes.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    assert [int(r[0]) for r in rows] == list(range(1000)), "imagenet_classes.tsv is damaged"
    return tuple((wnid, label) for _, wnid, label in rows)


def decode_predictions(preds: np.ndarray, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """For each row of ``preds`` (N, 1000), the ``top`` classes as (WordNet id, label, score),
    highest score first (ties in class order), as Keras's ``decode_predictions`` returns them."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(f"decode_predictions expects a batch of 1000 ImageNet scores, shape (N, 1000); "
                         f"got {preds.shape}")
    if not 1 <= top <= 1000:
        raise ValueError(f"top must be between 1 and 1000, got {top}")
    names = classes()
    out = []
    for row in preds:
        best = np.argsort(-row, kind="stable")[:top]
        out.append([(*names[i], float(row[i])) for i in best])
    return out
