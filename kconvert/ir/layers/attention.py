"""Attention layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kconvert.ir.layer import LayerConfig, layer_kind
from kconvert.ir.shapes import Shape, ShapeError, require_rank


@layer_kind
@dataclass(frozen=True, kw_only=True)
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

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        out: dict[str, Shape] = {}
        if self.use_scale:
            out["scale"] = ()
        if self.score_mode == "concat":
            out["concat_score_weight"] = ()
        return out
