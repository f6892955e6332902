"""Converters for normalisation layers."""

from __future__ import annotations

import numpy as np

from kconvert.ir.layers import normalization
from kconvert.ir.weights import Weight, warn_if_not_finite
from kconvert.readers.keras.layer import Converted, KerasLayerConfig, SourceWeight, keras_layer, ordered


@keras_layer("BatchNormalization", "BatchNormalizationV1", "BatchNormalizationV2", "SyncBatchNormalization")
def batch_normalization(cfg: KerasLayerConfig) -> Converted:
    mode = cfg.integer("mode", 0, minimum=0)
    if mode != 0:
        raise cfg.error(f"Keras 1 BatchNormalization mode={mode} normalises with per-batch or per-sample "
                        "statistics at inference too; only mode=0 can be expressed", "mode")
    for key in ("renorm", "virtual_batch_size", "synchronized"):
        if cfg.get(key, None):
            cfg.unsupported(f"{key}={cfg.get(key)} only changes training; not carried", key)
    cfg.mark_used("renorm_clipping", "renorm_momentum", "fused", "adjustment", "trainable")
    scale = cfg.boolean("scale", True)
    center = cfg.boolean("center", True)
    epsilon = cfg.number("epsilon", 1e-3, minimum=0.0)
    config = normalization.BatchNormalization(
        axis=cfg.axis_tuple("axis", -1), momentum=cfg.number("momentum", 0.99), epsilon=epsilon,
        center=center, scale=scale)
    cfg.weight("gamma", k1=("gamma_init", None, None))
    cfg.weight("beta", k1=("beta_init", None, None))
    cfg.weight("moving_mean")
    cfg.weight("moving_variance")
    names = (("gamma",) if scale else ()) + (("beta",) if center else ()) + ("moving_mean", "moving_variance")
    base = ordered(*names)
    keras10 = (cfg.ctx.keras_version or "").startswith("1.0")

    def bind(saved: list[SourceWeight]) -> dict[str, Weight]:
        weights = base(saved)
        if any(s.name.split("/")[-1].split(":")[0].endswith("running_std") for s in saved):
            if keras10:
                # Keras 1.0.x kept the standard deviation and divided by (std + epsilon)
                weights["moving_variance"] = weights["moving_variance"].derive(
                    lambda std: (std + epsilon) ** 2 - epsilon, weights["moving_variance"].shape,
                    "Keras 1.0 running_std to variance")
                cfg.note("rewritten", "Keras 1.0 running_std (a standard deviation) converted to a variance")
            elif cfg.ctx.keras_version is None:
                cfg.note("assumed", "Keras version not recorded: running_std read as the variance it holds "
                         "since Keras 1.1")
        return weights
    return Converted(config, bind)


@keras_layer("LayerNormalization")
def layer_normalization(cfg: KerasLayerConfig) -> Converted:
    scale = cfg.boolean("scale", True)
    center = cfg.boolean("center", True)
    rms = cfg.boolean("rms_scaling", False)
    config = normalization.LayerNormalization(axis=cfg.axis_tuple("axis", -1), epsilon=cfg.number("epsilon", 1e-3),
                                              center=center, scale=scale, rms_scaling=rms)
    cfg.weight("gamma")
    cfg.weight("beta")
    names = (("gamma",) if scale or rms else ()) + (("beta",) if center and not rms else ())
    return Converted(config, ordered(*names) if names else None)


@keras_layer("Normalization")
def normalization_layer(cfg: KerasLayerConfig) -> Converted:
    """Statistics given in the configuration are constants; adapted ones are weights (mean, variance
    and the sample count Keras keeps beside them)."""
    axis = () if cfg.get("axis", -1) in (None, []) else cfg.axis_tuple("axis", -1)  # none kept: one statistic

    def statistic(key: str) -> float | tuple[float, ...] | None:
        value = cfg.get(key, None)
        items = value if isinstance(value, (list, tuple)) else [value]
        if value is None:
            return None
        if not items or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in items):
            raise cfg.error(f"expected a number or a flat list of numbers, got {value!r}", key)
        try:
            numbers = [float(x) for x in items]
        except OverflowError:  # an integer past the largest float
            raise cfg.error("a value is beyond the range of a float", key) from None
        warn_if_not_finite(np.asarray(numbers), f"{cfg.ctx.source or 'the configuration'}: layer '{cfg.name}' {key}")
        return tuple(numbers) if isinstance(value, (list, tuple)) else numbers[0]

    config = normalization.Normalization(axis=axis, invert=cfg.boolean("invert", False), mean=statistic("mean"),
                                         variance=statistic("variance"))
    return Converted(config, ordered("mean", "variance", "count") if config.mean is None else None)


@keras_layer("GroupNormalization")
def group_normalization(cfg: KerasLayerConfig) -> Converted:
    scale, center = cfg.boolean("scale", True), cfg.boolean("center", True)
    axes = cfg.axis_tuple("axis", -1)
    if len(axes) != 1:
        raise cfg.error(f"expected one channel axis, got {list(axes)}", "axis")
    config = normalization.GroupNormalization(groups=cfg.integer("groups", 32), axis=axes[0], center=center,
                                              epsilon=cfg.number("epsilon", 1e-3, minimum=0.0), scale=scale)
    cfg.weight("gamma")
    cfg.weight("beta")
    names = (("gamma",) if scale else ()) + (("beta",) if center else ())
    return Converted(config, ordered(*names) if names else None)


@keras_layer("UnitNormalization")
def unit_normalization(cfg: KerasLayerConfig) -> normalization.UnitNormalization:
    """Keras 3 floors the norm at 1e-12; tf.keras (tf.math.l2_normalize) the squared norm."""
    keras3 = (cfg.ctx.keras_version or "3").startswith("3")
    return normalization.UnitNormalization(axis=cfg.axis_tuple("axis", -1), floor=1e-24 if keras3 else 1e-12)
