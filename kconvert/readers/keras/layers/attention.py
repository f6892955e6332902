"""Converters for MultiHeadAttention and the EinsumDense projections it is made of (Keras 2.4+,
tf.keras and Keras 3)."""

from __future__ import annotations

from typing import Any

from kconvert.ir.layers import attention, einsum
from kconvert.readers.keras.layer import Converted, KerasLayerConfig, keras_layer, ordered

#: the order of MultiHeadAttention's projections in both weight layouts (tf.keras's
#: query/key/value/attention_output scopes, Keras 3's query_dense... groups)
MHA_PROJECTIONS = ("query", "key", "value", "output")


def _same_in_calls(cfg: KerasLayerConfig, key: str, default: Any, present: bool = False) -> Any:
    """A call argument every call of the layer passes alike (``present``: whether it is given)."""
    calls = cfg.call_kwargs() or [{}]
    seen = {(kw.get(key) is not None) if present else bool(kw.get(key, default)) for kw in calls}
    if len(seen) > 1:
        raise cfg.error(f"the layer is called with and without {key}" if present
                        else f"the layer is called with different values of {key}", key)
    return seen.pop()


@keras_layer("MultiHeadAttention")
def multi_head_attention(cfg: KerasLayerConfig) -> Converted:
    key_dim = cfg.integer("key_dim")
    use_bias = cfg.boolean("use_bias", True)
    output_shape = cfg.get("output_shape", None)
    if isinstance(output_shape, int) and not isinstance(output_shape, bool):
        output_shape = [output_shape]
    output_dims = None if not output_shape else cfg.ints("output_shape", len(output_shape))
    axes = cfg.get("attention_axes", None)
    if axes is not None and list(axes if isinstance(axes, list) else [axes]) not in ([1], [-2]):
        raise cfg.error(f"attention over axes {axes!r} is not supported (only the default, the time axis of "
                        "(batch, time, features) inputs)", "attention_axes")
    if cfg.boolean("use_gate", False):
        raise cfg.error("gated attention (use_gate=True) is not supported", "use_gate")
    if cfg.get("sliding_window", None) is not None:
        raise cfg.error("sliding-window attention is not supported", "sliding_window")
    if _same_in_calls(cfg, "return_attention_scores", False):
        raise cfg.error("return_attention_scores=True (a second output) is not supported",
                        "return_attention_scores")
    dropout = cfg.number("dropout", 0.0, minimum=0.0, maximum=1.0)
    config = attention.MultiHeadAttention(
        num_heads=cfg.integer("num_heads"), key_dim=key_dim, value_dim=cfg.integer("value_dim", key_dim),
        use_bias=use_bias, output_dims=output_dims, dropout=dropout,
        causal=_same_in_calls(cfg, "use_causal_mask", False),
        with_attention_mask=_same_in_calls(cfg, "attention_mask", None, present=True),
        # Keras 3 leaves its fused attention for a masked softmax when dropout is set, which zeroes
        # the weights of a query row that can attend to nothing
        zero_masked_rows=cfg.generation >= 3 and dropout > 0)
    cfg.weight("kernel")
    cfg.weight("bias")
    # seed only drives dropout; the shapes tf.keras records are the inputs'; robust masking
    # computes the same weights
    cfg.mark_used("seed", "query_shape", "key_shape", "value_shape", "softmax_robust_masking")
    names = [f"{p}_{w}" for p in MHA_PROJECTIONS for w in (("kernel", "bias") if use_bias else ("kernel",))]
    return Converted(config, ordered(*names), call_kwargs=("use_causal_mask", "return_attention_scores"),
                     tensor_kwargs=("value", "key", "attention_mask"), masks_per_argument=True)


@keras_layer("EinsumDense")
def einsum_dense(cfg: KerasLayerConfig) -> Converted:
    equation = cfg.get("equation")
    if not isinstance(equation, str):
        raise cfg.error(f"expected an equation string, got {equation!r}", "equation")
    try:
        einsum.parse_equation(equation)
    except ValueError as exc:
        raise cfg.error(str(exc), "equation") from None
    partial = cfg.get("output_shape")
    partial = [partial] if isinstance(partial, int) and not isinstance(partial, bool) else partial
    shape = cfg.shape("output_shape", batch=False) if not isinstance(partial, list) else tuple(
        None if d is None else cfg._int(d, "output_shape", 1) for d in partial)
    bias_axes = cfg.get("bias_axes", None)
    if bias_axes is not None and not isinstance(bias_axes, str):
        raise cfg.error(f"expected a string of output letters, got {bias_axes!r}", "bias_axes")
    if cfg.get("quantization_config", None) is not None or cfg.get("lora_rank", None):
        raise cfg.error("quantized or LoRA EinsumDense layers are not supported", "quantization_config")
    try:
        config = einsum.EinsumDense(equation=equation, partial_output_shape=shape, bias_axes=bias_axes or None,
                                    activation=cfg.activation())
    except ValueError as exc:
        raise cfg.error(str(exc), "bias_axes") from None
    cfg.weight("kernel")
    cfg.weight("bias")
    return Converted(config, ordered("kernel", "bias") if bias_axes else ordered("kernel"))
