"""Attention layers."""

from __future__ import annotations

from typing import Literal, Sequence

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError, require_rank


@layer_kind
@layer_config
class Attention(LayerConfig):
    """Luong-style attention over inputs ``[query, value]`` or ``[query, value, key]``.

    ``score_mode='dot'``: scores = query @ key^T (times ``scale`` if ``use_scale``);
    ``'concat'``: scores = sum(tanh(scale * (query + key))) * concat_score_weight.
    ``causal`` masks future keys; ``return_attention_scores`` adds the score matrix as an output.
    Rank-2 inputs (batch, dim) are accepted as Keras accepts them: the matrix products then run
    over the batch axis, so every sample attends over all samples of the batch.
    """

    kind = "Attention"
    min_inputs = 2
    max_inputs = 3
    use_scale: bool = False
    score_mode: Literal["dot", "concat"] = "dot"
    dropout: float = 0.0
    causal: bool = False
    return_attention_scores: bool = False

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        rank = len(query)
        for s in (query, value, key):
            require_rank(s, rank if rank in (2, 3) else 3)
        if rank == 2:
            out: list[Shape] = [(query[0], value[1])]
            return out + [(query[0], None)] if self.return_attention_scores else out
        if value[1] is not None and key[1] is not None and value[1] != key[1]:
            raise ShapeError("value and key must have the same number of timesteps")
        out = [(query[0], query[1], value[2])]
        if self.return_attention_scores:
            out.append((query[0], query[1], key[1]))
        return out

    def intermediate_shapes(self, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> list[Shape]:
        """The outputs and the score matrix (query steps x key steps per sample; over the batch for
        rank-2 inputs), which the softmax then copies."""
        query, key = inputs[0], inputs[2] if len(inputs) > 2 else inputs[1]
        scores = (query[0], query[0]) if len(query) == 2 else (query[0], query[1], key[1])
        return [*outputs, scores]

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        out: dict[str, Shape] = {}
        if self.use_scale:
            out["scale"] = ()
        if self.score_mode == "concat":
            out["concat_score_weight"] = ()
        return out


@layer_kind
@layer_config
class MultiHeadAttention(LayerConfig):
    """Keras's multi-head dot-product attention over inputs ``[query, value]`` or
    ``[query, value, key]``, then ``attention_mask`` when ``with_attention_mask``.

    Query and key are projected to ``(heads, key_dim)``, value to ``(heads, value_dim)``;
    scores are ``(q / sqrt(key_dim)) . k`` per head, softmax over the keys, and the heads'
    results are projected to ``output_dims`` (Keras's ``output_shape``; default: the query's
    last dimension).  Attention runs over the time axis only (Keras's default ``attention_axes`` for
    (batch, time, features)
    inputs).  Masked-out keys get no weight; a query row with no key left gets uniform weights
    unless ``zero_masked_rows`` (Keras 3's softmax path with dropout > 0 zeroes it instead).
    """

    kind = "MultiHeadAttention"
    min_inputs = 2
    max_inputs = 4
    num_heads: int
    key_dim: int
    value_dim: int
    use_bias: bool = True
    output_dims: tuple[int, ...] | None = None
    dropout: float = 0.0
    causal: bool = False
    with_attention_mask: bool = False
    zero_masked_rows: bool = False

    def has_key(self, count: int) -> bool:
        """Whether a call with ``count`` inputs passes a key (else the value serves as key)."""
        return count - int(self.with_attention_mask) == 3

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        if len(inputs) - int(self.with_attention_mask) < 2:
            raise ShapeError("needs query and value inputs")
        query, value = inputs[0], inputs[1]
        key = inputs[2] if self.has_key(len(inputs)) else value
        for s, what in ((query, "query"), (value, "value"), (key, "key")):
            require_rank(s, 3, what=what)
        if value[1] is not None and key[1] is not None and value[1] != key[1]:
            raise ShapeError("value and key must have the same number of timesteps")
        if self.with_attention_mask:
            require_rank(inputs[-1], 3, what="attention_mask")
        tail = self.output_dims if self.output_dims else (query[2],)
        return [(query[0], query[1], *tail)]

    def intermediate_shapes(self, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> list[Shape]:
        """The outputs, the projected query, key and value, the score matrix of every head (batch,
        heads, query steps, key steps) and the heads' results before the output projection."""
        query, value = inputs[0], inputs[1]
        key = inputs[2] if self.has_key(len(inputs)) else value
        heads = self.num_heads
        return [*outputs, (query[0], query[1], heads, self.key_dim), (key[0], key[1], heads, self.key_dim),
                (value[0], value[1], heads, self.value_dim), (query[0], heads, query[1], key[1]),
                (query[0], query[1], heads, self.value_dim)]

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        query, value = inputs[0], inputs[1]
        key = inputs[2] if self.has_key(len(inputs)) else value
        heads = self.num_heads
        out_tail = self.output_dims if self.output_dims else (query[-1],)
        projections: list[tuple[str, Shape, Shape]] = [
            ("query", (query[-1], heads, self.key_dim), (heads, self.key_dim)),
            ("key", (key[-1], heads, self.key_dim), (heads, self.key_dim)),
            ("value", (value[-1], heads, self.value_dim), (heads, self.value_dim)),
            ("output", (heads, self.value_dim, *out_tail), tuple(out_tail)),
        ]
        out: dict[str, Shape] = {}
        for name, kernel, bias in projections:
            out[f"{name}_kernel"] = kernel
            if self.use_bias:
                out[f"{name}_bias"] = bias
        return out
