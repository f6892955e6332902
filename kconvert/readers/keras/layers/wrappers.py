"""Converters for TimeDistributed, Bidirectional, Attention and models used as layers."""

from __future__ import annotations

from typing import Any

from kconvert.ir.layers import attention, wrappers
from kconvert.ir.layers.model import NestedModel
from kconvert.ir.weights import Weight
from kconvert.readers.keras.layer import Converted, KerasLayerConfig, SourceWeight, build_layer, keras_layer, ordered


def _inner(cfg: KerasLayerConfig, key: str = "layer") -> dict[str, Any]:
    node = cfg.get(key)
    if not isinstance(node, dict) or not isinstance(node.get("config"), dict):
        raise cfg.error("expected a serialized layer {'class_name': ..., 'config': {...}}", key)
    return node


@keras_layer("TimeDistributed")
def time_distributed(cfg: KerasLayerConfig) -> Converted:
    layer, inner = build_layer(_inner(cfg), cfg.ctx)
    bind = inner.bind

    def bind_inner(saved: list[SourceWeight]) -> dict[str, Weight]:
        if bind is not None:
            layer.weights = bind(saved)
        elif saved:
            raise cfg.error(f"the wrapped layer has no weights but the file holds {len(saved)}")
        return {}
    return Converted(wrappers.TimeDistributed(layer=layer), bind_inner if bind else None)


@keras_layer("Bidirectional")
def bidirectional(cfg: KerasLayerConfig) -> Converted:
    forward_node = _inner(cfg)
    merge_mode = cfg.get("merge_mode", None)
    if merge_mode not in ("concat", "sum", "mul", "ave", None):
        raise cfg.error(f"unknown merge mode {merge_mode!r}", "merge_mode")
    inner_config = dict(forward_node.get("config") or {})
    base = str(inner_config.get("name", "rnn"))
    base = base[len("forward_"):] if base.startswith("forward_") else base
    forward, fw = build_layer(
        {**forward_node, "config": {**inner_config, "name": f"forward_{base}"}}, cfg.ctx)
    if cfg.get("backward_layer", None) is not None:
        backward, bw = build_layer(_inner(cfg, "backward_layer"), cfg.ctx)
    else:  # Keras builds the backward twin from the same config with go_backwards flipped
        backward_config = {**inner_config, "name": f"backward_{base}",
                           "go_backwards": not inner_config.get("go_backwards", False)}
        backward, bw = build_layer({**forward_node, "config": backward_config}, cfg.ctx)
    fw_bind, bw_bind = fw.bind, bw.bind
    for layer in (forward, backward):
        if not hasattr(layer.config, "go_backwards"):
            raise cfg.error(f"Bidirectional wraps {layer.source_class}, which is not a recurrent layer", "layer")
    if backward.config.go_backwards == forward.config.go_backwards:  # type: ignore[attr-defined]
        raise cfg.error("the forward and backward layers must run in opposite directions (go_backwards)",
                        "backward_layer")

    def bind(saved: list[SourceWeight]) -> dict[str, Weight]:
        half = len(saved) // 2
        if fw_bind is None or bw_bind is None or len(saved) % 2:
            raise cfg.error(f"expected forward and backward weights in equal numbers, got {len(saved)}")
        forward.weights = fw_bind(saved[:half])
        backward.weights = bw_bind(saved[half:])
        return {}
    return Converted(wrappers.Bidirectional(forward=forward, backward=backward, merge_mode=merge_mode), bind)


@keras_layer("Attention")
def attention_layer(cfg: KerasLayerConfig) -> Converted:
    calls = cfg.call_kwargs()

    def from_calls(key: str, default: bool) -> bool:
        values = {bool(kw[key]) for kw in calls if key in kw}
        if len(values) > 1:
            raise cfg.error(f"the layer is called with different values of {key}", key)
        return values.pop() if values else default
    use_scale = cfg.boolean("use_scale", False)
    score_mode = cfg.choice("score_mode", ("dot", "concat"), "dot")
    config = attention.Attention(
        use_scale=use_scale, score_mode=score_mode, dropout=cfg.number("dropout", 0.0),
        causal=from_calls("use_causal_mask", cfg.boolean("causal", False)),
        return_attention_scores=from_calls("return_attention_scores", False))
    cfg.mark_used("seed")
    names = (("scale",) if use_scale else ()) + (("concat_score_weight",) if score_mode == "concat" else ())
    return Converted(config, ordered(*names) if names else None,
                     call_kwargs=("use_causal_mask", "return_attention_scores"))


@keras_layer("Sequential", "Model", "Functional")
def nested_model(cfg: KerasLayerConfig) -> Converted:
    from kconvert.readers.keras.model import build_model

    cfg.mark_used(*cfg.raw)
    built = build_model({"class_name": cfg.class_name, "config": cfg.raw}, cfg.ctx, nested=True)
    return Converted(NestedModel(model=built.model), built.bind_nested)
