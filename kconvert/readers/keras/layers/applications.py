"""Converters for the helper layers keras.applications models define for themselves.

Keras registers them under its own application modules; they are read only from there (an
allowlist), never from a class a file merely names alike.  A file old enough to record no module
is read as Keras's own, with a note.
"""

from __future__ import annotations

from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import applications
from kconvert.readers.keras.layer import Converted, KerasLayerConfig, keras_layer, ordered

def _from_keras_applications(cfg: KerasLayerConfig, kind: type[LayerConfig]) -> None:
    """Refuse a helper layer that a module other than its Keras 3 or tf_keras application module defines."""
    class_name = kind.kind
    module = cfg.node.get("module")
    allowed = {f"{package}.{kind.application_module}" for package in ("keras.src", "tf_keras.src", "keras")}
    if module is None:
        cfg.note("assumed", f"the file records no module for {class_name}: read as keras.applications' own layer")
    elif module not in allowed:
        raise cfg.error(f"a {class_name} from module {module!r} is not Keras's own (kconvert reads it only from "
                        f"{' or '.join(sorted(allowed))}, and never imports code named by a model file)")


@keras_layer("LayerScale")
def layer_scale(cfg: KerasLayerConfig) -> Converted:
    _from_keras_applications(cfg, applications.LayerScale)
    config = applications.LayerScale(projection_dim=cfg.integer("projection_dim"),
                                      init_values=cfg.number("init_values", 1e-6))
    return Converted(config, ordered("gamma"))


@keras_layer("StochasticDepth")
def stochastic_depth(cfg: KerasLayerConfig) -> applications.StochasticDepth:
    _from_keras_applications(cfg, applications.StochasticDepth)
    return applications.StochasticDepth(rate=cfg.number("drop_path_rate", minimum=0.0))


@keras_layer("CustomScaleLayer", "Custom>CustomScaleLayer")
def custom_scale(cfg: KerasLayerConfig) -> applications.CustomScaleLayer:
    _from_keras_applications(cfg, applications.CustomScaleLayer)
    return applications.CustomScaleLayer(scale=cfg.number("scale"))
