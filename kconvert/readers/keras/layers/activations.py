"""Converters for activation layers (Keras 1 advanced activations included)."""

from __future__ import annotations

from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import activations
from kconvert.ir.values import Initializer, WeightSettings
from kconvert.readers.keras.layer import Converted, KerasLayerConfig, keras_layer, ordered


def _shared_axes(cfg: KerasLayerConfig) -> tuple[int, ...]:
    value = cfg.get("shared_axes", None)
    if value is None:
        return ()
    value = value if isinstance(value, (list, tuple)) else [value]
    return tuple(cfg._int(v, "shared_axes", 1) for v in value if v is not None)  # Keras 1 stored [None]


@keras_layer("ReLU")
def relu(cfg: KerasLayerConfig) -> LayerConfig:
    max_value = cfg.get("max_value", None)
    return activations.ReLU(
        max_value=None if max_value is None else cfg.number("max_value", minimum=0.0),
        negative_slope=cfg.number("negative_slope", 0.0, minimum=0.0),
        threshold=cfg.number("threshold", 0.0))


@keras_layer("LeakyReLU")
def leaky_relu(cfg: KerasLayerConfig) -> LayerConfig:
    return activations.LeakyReLU(negative_slope=cfg.number("negative_slope", 0.3, k1="alpha"))


@keras_layer("ELU")
def elu(cfg: KerasLayerConfig) -> LayerConfig:
    return activations.ELU(alpha=cfg.number("alpha", 1.0))


@keras_layer("ThresholdedReLU")
def thresholded_relu(cfg: KerasLayerConfig) -> LayerConfig:
    return activations.ThresholdedReLU(theta=cfg.number("theta", 1.0))


@keras_layer("Softmax")
def softmax(cfg: KerasLayerConfig) -> LayerConfig:
    axis = cfg.axis_tuple("axis", -1)
    return activations.Softmax(axis=axis[0] if len(axis) == 1 else axis)


@keras_layer("PReLU")
def prelu(cfg: KerasLayerConfig) -> Converted:
    cfg.weight("alpha", k1=("init", None, None))
    return Converted(activations.PReLU(shared_axes=_shared_axes(cfg)), ordered("alpha"))


@keras_layer("ParametricSoftplus")
def parametric_softplus(cfg: KerasLayerConfig) -> Converted:
    for weight, key, default in (("alpha", "alpha_init", 0.2), ("beta", "beta_init", 5.0)):
        cfg.weight_settings[weight] = WeightSettings(Initializer("Constant", {"value": cfg.number(key, default)}))
    return Converted(activations.ParametricSoftplus(shared_axes=_shared_axes(cfg)), ordered("alpha", "beta"))


@keras_layer("SReLU")
def srelu(cfg: KerasLayerConfig) -> Converted:
    names = ("t_left", "a_left", "t_right", "a_right")
    for name in names:
        cfg.weight(name, k1=(f"{name}_init", None, None))
    return Converted(activations.SReLU(shared_axes=_shared_axes(cfg)), ordered(*names))
