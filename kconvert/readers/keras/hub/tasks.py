"""KerasHub task models: a backbone (saved inside the task, its weights under the backbone's name)
and the head KerasHub 0.32 puts on it.

The task's preprocessor (tokenizer, image converter) is not part of the numeric model KerasHub's
functional graph computes: the model read takes what the preprocessor would produce (token ids and
padding mask, or images already resized and scaled), and a note says so when one was saved.
"""

from __future__ import annotations

from typing import Any

from kconvert.ir.graph import TensorRef
from kconvert.ir.layers.core import Dense
from kconvert.ir.layers.ops import GetItem, Index, Reduce
from kconvert.ir.layers.pooling import GlobalAveragePooling2D, GlobalMaxPooling2D
from kconvert.ir.shapes import Shape
from kconvert.ir.weights import Weight
from kconvert.readers.keras.hub import build_hub, hub_model
from kconvert.readers.keras.hub.graph import HubGraph, Saved
from kconvert.readers.keras.layer import KerasLayerConfig

#: task class -> the backbone class its head is written for
TASK_BACKBONES = {"BertTextClassifier": "BertBackbone", "GPT2CausalLM": "GPT2Backbone",
                  "ViTImageClassifier": "ViTBackbone", "ResNetImageClassifier": "ResNetBackbone"}


def _backbone(cfg: KerasLayerConfig, g: HubGraph) -> tuple[list[TensorRef], dict[str, Any]]:
    """The task's backbone added to ``g`` (its weights saved inside the task under its own name),
    its outputs and constructor arguments."""
    spec = cfg.get("backbone")
    expected = TASK_BACKBONES[cfg.class_name]
    if not isinstance(spec, dict) or spec.get("class_name") != expected or not isinstance(spec.get("config"), dict):
        found = spec.get("class_name") if isinstance(spec, dict) else spec
        raise cfg.error(f"{cfg.class_name}'s 'backbone' must be a saved {expected}, got {found!r}", "backbone")
    if cfg.get("preprocessor", None) is not None:
        cfg.note("preprocessing", f"{cfg.class_name}'s preprocessor is not converted: the model takes what it "
                 "produces (token ids and padding mask, or prepared images)", key="preprocessor")
    outer, g.scope = g.scope, (*g.scope, str(spec["config"].get("name") or expected))
    try:
        outputs = build_hub(spec, g, cfg.ctx)
    finally:
        g.scope = outer
    return outputs, spec["config"]


def _logits(cfg: KerasLayerConfig, g: HubGraph, x: TensorRef, saved_as: str) -> TensorRef:
    return g.add("predictions", Dense(units=cfg.integer("num_classes"), activation=cfg.activation()), x,
                 saved=Saved(saved_as))


@hub_model("BertTextClassifier")
def text_classifier(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    """The pooled output through a Dense (``logits``)."""
    (_, pooled), _ = _backbone(cfg, g)
    return [_logits(cfg, g, pooled, "logits")]


def _transposed(arrays: list[Weight], expected: dict[str, Shape]) -> list[Weight]:
    (table,) = arrays
    return [table.transpose((1, 0))]


@hub_model("GPT2CausalLM")
def causal_lm(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    """Each step's logits over the vocabulary: the sequence times the token embedding's transpose
    (ReversibleEmbedding called in reverse, its weights tied)."""
    (sequence,), args = _backbone(cfg, g)
    vocabulary = int(args.get("vocabulary_size", 0))
    tied = Saved("token_embedding", adapt=_transposed, scope=(str(args.get("name") or "gpt2_backbone"),))
    return [g.add("logits", Dense(units=vocabulary, use_bias=False), sequence, saved=tied)]


@hub_model("ViTImageClassifier")
def vit_classifier(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    """The class token (``pooling='token'``) or the mean over the sequence (``'gap'``), an optional
    tanh Dense (``pre_logits``), then the classes."""
    (x,), _ = _backbone(cfg, g)
    if cfg.choice("pooling", ("token", "gap"), "token") == "token":
        x = g.add("pooled", GetItem(items=(Index("slice"), Index("index", 0))), x)
    else:
        x = g.add("pooled", Reduce(op="mean", axis=(1,)), x)
    if cfg.get("intermediate_dim", None) is not None:
        x = g.add("pre_logits", Dense(units=cfg.integer("intermediate_dim"), activation="tanh"), x,
                  saved=Saved("pre_logits"))
    return [_logits(cfg, g, x, "predictions")]


@hub_model("ResNetImageClassifier")
def image_classifier(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    """Global average or max pooling (``pooler``), then the classes."""
    (x,), args = _backbone(cfg, g)
    data_format = args.get("data_format") or "channels_last"
    pooling = GlobalAveragePooling2D if cfg.choice("pooling", ("avg", "max"), "avg") == "avg" else GlobalMaxPooling2D
    x = g.add("pooler", pooling(data_format=data_format), x)
    return [_logits(cfg, g, x, "predictions")]
