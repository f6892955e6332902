"""KerasHub models (``keras_hub.models.*Backbone``...), read from their constructor arguments.

KerasHub saves a model as its class and constructor arguments (``registered_name``
``keras_hub>BertBackbone``), in a ``.keras`` archive or a preset folder (``save_to_preset``:
``config.json`` and ``model.weights.h5``).  Each architecture module here rebuilds that model's
graph in the IR from those arguments (:data:`HUB_MODELS`, keyed by KerasHub's class name) and
names where each layer's weights were saved; KerasHub itself is never imported.  Task models
(``tasks.py``) rebuild their backbone the same way, inside the task's weights.  Tokenizers and
every other KerasHub class are refused, naming the class.
"""

from __future__ import annotations

from typing import Any, Callable

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Model, TensorRef
from kconvert.readers.context import ReadContext
from kconvert.readers.h5 import H5File
from kconvert.readers.keras.hub.graph import HubGraph, bind_saved
from kconvert.readers.keras.layer import KerasLayerConfig
from kconvert.registry import registrar

#: KerasHub's prefix of the names it registers its classes under
HUB_PACKAGE = "keras_hub"

#: rebuilds a KerasHub model from its typed constructor arguments; returns its outputs
Builder = Callable[[KerasLayerConfig, HubGraph], list[TensorRef]]
HUB_MODELS: dict[str, Builder] = {}
hub_model = registrar(HUB_MODELS, "a builder for the KerasHub class")


class KerasHubClassError(IncompatibleKerasConfigurationException):
    """A KerasHub class kconvert does not rebuild (a tokenizer, a preprocessor, another model)."""

    def __init__(self, hub_class: str, reason: str) -> None:
        super().__init__(reason, layer_class=hub_class)
        self.hub_class = hub_class


def is_hub(config: Any) -> bool:
    """Whether a top-level configuration is a KerasHub object's."""
    if not isinstance(config, dict):
        return False
    registered, module = config.get("registered_name"), config.get("module")
    return (isinstance(registered, str) and registered.startswith(f"{HUB_PACKAGE}>")) or \
        (isinstance(module, str) and module.split(".")[0] == HUB_PACKAGE)


def read_hub(config: dict[str, Any], weights: H5File | None, ctx: ReadContext,
             backbone: H5File | None = None) -> Model:
    """The IR of the KerasHub model ``config`` describes, with ``weights`` bound when given
    (``backbone``: a task preset's backbone weights, saved apart from the head's)."""
    class_name = str(config.get("class_name"))
    args = config.get("config")
    name = str(args.get("name") or class_name) if isinstance(args, dict) else class_name
    graph = HubGraph(name)
    outputs = build_hub(config, graph, ctx)
    model = graph.model(outputs, ctx.report)
    model.validate(ctx.limits.max_tensor_elements, ctx.limits.max_rank)
    if weights is not None:
        bind_saved(graph, model, weights, backbone)
    return model


def build_hub(config: dict[str, Any], graph: HubGraph, ctx: ReadContext) -> list[TensorRef]:
    """Add the KerasHub model ``config`` describes (class and constructor arguments) to ``graph``;
    returns its outputs."""
    # (registers the builders)
    from kconvert.readers.keras.hub import bert, efficientnet, gpt2, mobilenet, resnet, tasks, vit  # noqa: F401

    class_name = str(config.get("class_name"))
    builder = HUB_MODELS.get(class_name)
    if builder is None:
        raise _refusal(class_name)
    args = config.get("config")
    if not isinstance(args, dict):
        raise ctx.incompatible(f"KerasHub {class_name}: 'config' must hold its constructor arguments", key="config")
    cfg = KerasLayerConfig(class_name, args, str(args.get("name") or class_name), ctx, config)
    try:
        outputs = builder(cfg, graph)
    except IncompatibleKerasConfigurationException as exc:
        raise exc.with_context(layer_class=class_name) from None
    cfg.mark_used("dropout")  # dropout changes nothing at inference; each builder passes it on
    for key in cfg.leftover():
        ctx.note("ignored-key", f"KerasHub {class_name} argument '{key}' is not read", key=key, severity="warning")
    return outputs


def _refusal(class_name: str) -> KerasHubClassError:
    if class_name.endswith("Tokenizer"):
        return KerasHubClassError(class_name, f"KerasHub {class_name} is a tokenizer (string preprocessing), which "
                                  "kconvert does not convert; the numeric model is read from its backbone alone "
                                  "(its .keras file or preset)")
    known = ", ".join(sorted(HUB_MODELS))
    return KerasHubClassError(class_name, f"KerasHub class {class_name} is not one kconvert rebuilds (it reads "
                              f"{known})")
