"""Converters for merge layers, including Keras 1's ``Merge`` with its modes."""

from __future__ import annotations

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import merge
from kconvert.readers.keras import lambdas
from kconvert.readers.keras.layer import Converted, KerasLayerConfig, keras_layer


def _elementwise(cls: type) -> None:
    keras_layer(cls.kind)(lambda cfg: cls())


for _cls in (merge.Add, merge.Subtract, merge.Multiply, merge.Average, merge.Maximum, merge.Minimum):
    _elementwise(_cls)


@keras_layer("Concatenate")
def concatenate(cfg: KerasLayerConfig) -> LayerConfig:
    return merge.Concatenate(axis=cfg.integer("axis", -1, minimum=-64))


def _dot_axes(cfg: KerasLayerConfig, key: str) -> tuple[int, int]:
    axes = cfg.get(key, -1)
    if isinstance(axes, int) and not isinstance(axes, bool):
        return (axes, axes)
    if isinstance(axes, (list, tuple)) and len(axes) == 2 and all(isinstance(a, int) for a in axes):
        return (axes[0], axes[1])
    if isinstance(axes, (list, tuple)) and len(axes) == 2 and all(
            isinstance(a, (list, tuple)) and len(a) == 1 for a in axes):
        return (axes[0][0], axes[1][0])  # Keras 1 also accepted [[a], [b]]
    raise cfg.error(f"expected an axis or a pair of axes, got {axes!r}", key)


@keras_layer("Dot")
def dot(cfg: KerasLayerConfig) -> LayerConfig:
    return merge.Dot(axes=_dot_axes(cfg, "axes"), normalize=cfg.boolean("normalize", False))


_MERGE_MODES = {"sum": merge.Add, "mul": merge.Multiply, "ave": merge.Average, "max": merge.Maximum}


@keras_layer("Merge")
def keras1_merge(cfg: KerasLayerConfig) -> Converted | LayerConfig:
    """Keras 1 (and Keras 2.0-2.1 legacy) ``Merge``: each mode maps to a modern merge layer."""
    cfg.mark_used("layers", "node_indices", "tensor_indices", "output_mask", "output_mask_type",
                  "output_shape", "output_shape_type", "arguments", "concat_axis", "dot_axes")
    mode_type = cfg.get("mode_type", "raw")
    mode = cfg.get("mode", "sum")
    if mode_type != "raw" or not isinstance(mode, str):
        replacement = lambdas.find_replacement(cfg.name, dict(cfg.ctx.options.lambdas))
        if replacement is None:
            raise IncompatibleKerasConfigurationException(
                f"Merge layer with a Python {mode_type} as its mode carries code that kconvert never runs; "
                f"declare what it computes with kconvert.register_lambda({cfg.name!r}, ...)", key="mode")
        from kconvert.readers.keras.layers.core import lambda_layer

        return lambda_layer(cfg)
    if mode in _MERGE_MODES:
        return _MERGE_MODES[mode]()
    if mode == "concat":
        return merge.Concatenate(axis=cfg.integer("concat_axis", -1, minimum=-64))
    if mode == "dot":
        return merge.Dot(axes=_dot_axes(cfg, "dot_axes"))
    if mode == "cos":
        cfg.note("approximated", "Keras 1 'cos' merge read as Dot(normalize=True): Keras 1 clamped the "
                 "norm product at 1e-7 (not each norm at 1e-12) and added a unit axis its declared "
                 "output shape omitted", key="mode")
        return merge.Dot(axes=_dot_axes(cfg, "dot_axes"), normalize=True)
    raise cfg.error(f"unknown merge mode {mode!r}", "mode")
