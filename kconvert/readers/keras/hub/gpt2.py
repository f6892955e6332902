"""GPT-2's backbone: token and position embeddings, pre-norm causal TransformerDecoders (no
cross-attention) over a padding mask, and a final LayerNormalization; per KerasHub 0.32,
tanh-approximated GELU and epsilon 1e-5 throughout."""

from __future__ import annotations

from kconvert.ir.graph import TensorRef
from kconvert.ir.layers.core import Embedding
from kconvert.ir.layers.merge import Add
from kconvert.readers.keras.hub import hub_model
from kconvert.readers.keras.hub.blocks import Transformer, attention_mask, layer_norm, position_embedding
from kconvert.readers.keras.hub.graph import HubGraph, Saved
from kconvert.readers.keras.layer import KerasLayerConfig

_EPSILON = 1e-5


@hub_model("GPT2Backbone")
def gpt2(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    hidden = cfg.integer("hidden_dim")
    ids = g.input("token_ids", (None,), "int32")
    mask = attention_mask(g, g.input("padding_mask", (None,), "int32"))
    tokens = g.add("token_embedding", Embedding(input_dim=cfg.integer("vocabulary_size"), output_dim=hidden), ids,
                   saved=Saved("token_embedding"))
    where = position_embedding(g, "position_embedding", ids, cfg.integer("max_sequence_length", 1024), hidden,
                               Saved("position_embedding"))
    x = g.add("embeddings_add", Add(), tokens, where)
    block = Transformer(num_heads=cfg.integer("num_heads"), intermediate_dim=cfg.integer("intermediate_dim"),
                        activation="gelu_tanh", epsilon=_EPSILON, dropout=cfg.number("dropout", 0.1),
                        normalize_first=True, causal=True)
    for i in range(cfg.integer("num_layers", minimum=0)):
        x = block.block(g, f"transformer_layer_{i}", x, mask, hidden)
    return [layer_norm(g, "sequence_output", x, _EPSILON, Saved("layer_norm"))]
