"""KerasHub's shared blocks (keras_hub.layers) as compositions of IR kinds.

What each computes follows KerasHub 0.32's source:

* ``ReversibleEmbedding`` called forward is an Embedding lookup of its ``embeddings``.
* ``PositionEmbedding`` adds nothing itself: it returns rows ``0 .. steps-1`` of its table broadcast
  over the batch, which is an Embedding of each step's index (a running count of ones, minus one).
* ``TokenAndPositionEmbedding`` is the sum of the two.
* ``TransformerEncoder`` / ``TransformerDecoder`` (without cross-attention): self-attention, dropout,
  the residual, then a two-Dense feedforward and its residual, each half layer-normalised before
  (``normalize_first``) or after the residual.  The padding mask ``(batch, steps)`` becomes the
  attention mask ``(batch, 1, steps)`` (keys only); the decoder also masks future steps.
  Keras's MultiHeadAttention with dropout > 0 takes its masked-softmax path, so the IR kind's
  ``zero_masked_rows`` follows the dropout, as the Keras reader sets it.
* A learned tensor broadcast over the batch (ViT's class token and position table) is a Dense with
  a zero kernel whose bias is that tensor, applied to one entry of each sample: zero times a finite
  number adds exactly nothing, so every finite input gives the tensor itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from kconvert.ir.graph import TensorRef
from kconvert.ir.layers.attention import MultiHeadAttention
from kconvert.ir.layers.core import Dense, Embedding, Reshape
from kconvert.ir.layers.merge import Add
from kconvert.ir.layers.normalization import LayerNormalization
from kconvert.ir.layers.ops import BinaryOp, Cumsum, ExpandDims, GetItem, Index
from kconvert.ir.shapes import Shape
from kconvert.ir.weights import Weight
from kconvert.readers.keras.hub.graph import HubGraph, Saved


def positions(g: HubGraph, name: str, ids: TensorRef) -> TensorRef:
    """Each step's index (0, 1, ...) along axis 1 of ``ids`` (batch, steps), as a float."""
    zeros = g.add(f"{name}_zeros", BinaryOp(op="multiply", constant=0.0), ids)
    ones = g.add(f"{name}_ones", BinaryOp(op="add", constant=1.0), zeros)
    count = g.add(f"{name}_count", Cumsum(axis=1), ones)
    return g.add(f"{name}_index", BinaryOp(op="subtract", constant=1.0), count)


def position_embedding(g: HubGraph, name: str, ids: TensorRef, length: int, dim: int, saved: Saved) -> TensorRef:
    """KerasHub's PositionEmbedding of the tokens of ``ids``: its first ``steps`` rows."""
    return g.add(name, Embedding(input_dim=length, output_dim=dim), positions(g, name, ids), saved=saved)


def token_and_position(g: HubGraph, name: str, ids: TensorRef, vocabulary: int, length: int, dim: int) -> TensorRef:
    """KerasHub's TokenAndPositionEmbedding ``name`` (its token_embedding and position_embedding)."""
    tokens = g.add(f"{name}_tokens", Embedding(input_dim=vocabulary, output_dim=dim),
                   ids, saved=Saved(name, ("token_embedding",)))
    where = position_embedding(g, f"{name}_positions", ids, length, dim, Saved(name, ("position_embedding",)))
    return g.add(name, Add(), tokens, where)


def attention_mask(g: HubGraph, padding_mask: TensorRef) -> TensorRef:
    """The padding mask (batch, steps) as the attention mask (batch, 1, steps) over the keys."""
    return g.add("attention_mask", ExpandDims(axis=(1,)), padding_mask)


def layer_norm(g: HubGraph, name: str, x: TensorRef, epsilon: float, saved: Saved) -> TensorRef:
    return g.add(name, LayerNormalization(epsilon=epsilon), x, saved=saved)


def _as_bias(arrays: list[Weight], expected: dict[str, Shape]) -> list[Weight]:
    """A learned tensor saved alone, as a zero kernel and the tensor (flattened) as the bias."""
    (tensor,) = arrays
    return [Weight.filled(expected["kernel"], 0.0, tensor.dtype, f"{tensor.origin} [zero kernel]"),
            tensor.reshape(expected["bias"])]


def learned_tensor(g: HubGraph, name: str, x: TensorRef, shape: tuple[int, ...], saved: Saved) -> TensorRef:
    """The learned tensor saved at ``saved`` (any shape of ``prod(shape)`` values), of ``shape``
    for every sample of ``x`` (batch, steps, features)."""
    entry = g.add(f"{name}_entry", GetItem(items=(Index("slice"), Index("slice", 0, 1), Index("index", 0))), x)
    flat = g.add(f"{name}_values", Dense(units=prod(shape)), entry,
                 saved=Saved(saved.layer, saved.path, adapt=_as_bias))
    return g.add(name, Reshape(target_shape=shape), flat)


@dataclass(frozen=True)
class BlockParts:
    """The attribute paths a transformer block saves its parts under."""

    attention_norm: tuple[str, ...]
    attention: tuple[str, ...]
    feedforward_norm: tuple[str, ...]
    intermediate: tuple[str, ...]
    output: tuple[str, ...]


#: keras_hub.layers.TransformerEncoder / TransformerDecoder
HUB_PARTS = BlockParts(("_self_attention_layer_norm",), ("_self_attention_layer",), ("_feedforward_layer_norm",),
                       ("_feedforward_intermediate_dense",), ("_feedforward_output_dense",))


@dataclass(frozen=True)
class Transformer:
    """The settings of a TransformerEncoder, a decoder-only TransformerDecoder (``causal``), or
    another architecture's block of the same form (``parts`` names where it saves each)."""

    num_heads: int
    intermediate_dim: int
    activation: str
    epsilon: float
    dropout: float
    normalize_first: bool = False
    causal: bool = False
    parts: BlockParts = HUB_PARTS
    attention_bias: bool = True
    feedforward_bias: bool = True

    def block(self, g: HubGraph, name: str, x: TensorRef, mask: TensorRef | None, hidden: int,
              where: Saved | None = None) -> TensorRef:
        """The block saved at ``where`` (default: top-level layer ``name``), applied to ``x``
        under the attention ``mask`` (None: every key attends)."""
        at = where or Saved(name)
        parts, masked = self.parts, mask is not None
        key_dim = hidden // self.num_heads
        attention = MultiHeadAttention(num_heads=self.num_heads, key_dim=key_dim, value_dim=key_dim,
                                       use_bias=self.attention_bias, dropout=self.dropout, causal=self.causal,
                                       with_attention_mask=masked, zero_masked_rows=masked and self.dropout > 0)
        residual = x
        if self.normalize_first:
            x = layer_norm(g, f"{name}_attention_norm", x, self.epsilon, at.at(*parts.attention_norm))
        x = g.add(f"{name}_attention", attention, x, x, *([mask] if mask is not None else []),
                  saved=at.at(*parts.attention))
        x = g.add(f"{name}_attention_residual", Add(), x, residual)
        if not self.normalize_first:
            x = layer_norm(g, f"{name}_attention_norm", x, self.epsilon, at.at(*parts.attention_norm))
        residual = x
        if self.normalize_first:
            x = layer_norm(g, f"{name}_feedforward_norm", x, self.epsilon, at.at(*parts.feedforward_norm))
        x = g.add(f"{name}_intermediate", Dense(units=self.intermediate_dim, activation=self.activation,
                                                use_bias=self.feedforward_bias), x, saved=at.at(*parts.intermediate))
        x = g.add(f"{name}_output", Dense(units=hidden, use_bias=self.feedforward_bias), x,
                  saved=at.at(*parts.output))
        x = g.add(f"{name}_feedforward_residual", Add(), x, residual)
        if not self.normalize_first:
            x = layer_norm(g, f"{name}_feedforward_norm", x, self.epsilon, at.at(*parts.feedforward_norm))
        return x
