"""The BERT family's backbones: BERT, ELECTRA (token, position and segment embeddings), DistilBERT
and RoBERTa (TokenAndPositionEmbedding), all post-norm TransformerEncoders over a padding mask.

Per KerasHub 0.32: BERT and ELECTRA use tanh-approximated GELU and epsilon 1e-12 and pool the first
token through a tanh Dense; DistilBERT uses exact GELU and 1e-12, RoBERTa exact GELU and 1e-5;
ELECTRA projects its embeddings to ``hidden_dim`` when ``embedding_dim`` differs.
"""

from __future__ import annotations

from kconvert.ir.graph import TensorRef
from kconvert.ir.layers.core import Dense, Embedding
from kconvert.ir.layers.merge import Add
from kconvert.ir.layers.ops import GetItem, Index
from kconvert.readers.keras.hub import hub_model
from kconvert.readers.keras.hub.blocks import (Transformer, attention_mask, layer_norm, position_embedding,
                                               token_and_position)
from kconvert.readers.keras.hub.graph import HubGraph, Saved
from kconvert.readers.keras.layer import KerasLayerConfig

_SEQUENCE = (None,)


def _encoders(cfg: KerasLayerConfig, g: HubGraph, x: TensorRef, mask: TensorRef, hidden: int, activation: str,
              epsilon: float) -> TensorRef:
    block = Transformer(num_heads=cfg.integer("num_heads"), intermediate_dim=cfg.integer("intermediate_dim"),
                        activation=activation, epsilon=epsilon, dropout=cfg.number("dropout", 0.1))
    for i in range(cfg.integer("num_layers", minimum=0)):
        x = block.block(g, f"transformer_layer_{i}", x, mask, hidden)
    return x


@hub_model("BertBackbone", "ElectraBackbone")
def bert(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    """Outputs: sequence_output, pooled_output (the first token through a tanh Dense)."""
    electra = cfg.class_name == "ElectraBackbone"
    hidden = cfg.integer("hidden_dim")
    dim = cfg.integer("embedding_dim") if electra else hidden
    vocabulary = cfg.integer("vocab_size" if electra else "vocabulary_size")
    ids = g.input("token_ids", _SEQUENCE, "int32")
    segment_ids = g.input("segment_ids", _SEQUENCE, "int32")
    mask = attention_mask(g, g.input("padding_mask", _SEQUENCE, "int32"))
    tokens = g.add("token_embedding", Embedding(input_dim=vocabulary, output_dim=dim), ids,
                   saved=Saved("token_embedding"))
    where = position_embedding(g, "position_embedding", ids, cfg.integer("max_sequence_length", 512), dim,
                               Saved("position_embedding"))
    segments = g.add("segment_embedding", Embedding(input_dim=cfg.integer("num_segments", 2), output_dim=dim),
                     segment_ids, saved=Saved("segment_embedding"))
    x = g.add("embeddings_add", Add(), tokens, where, segments)
    x = layer_norm(g, "embeddings_layer_norm", x, 1e-12, Saved("embeddings_layer_norm"))
    if dim != hidden:
        x = g.add("embeddings_projection", Dense(units=hidden), x, saved=Saved("embeddings_projection"))
    x = _encoders(cfg, g, x, mask, hidden, "gelu_tanh", 1e-12)
    first = g.add("cls_token", GetItem(items=(Index("slice"), Index("index", 0))), x)
    pooled = g.add("pooled_output", Dense(units=hidden, activation="tanh"), first, saved=Saved("pooled_dense"))
    return [x, pooled]


@hub_model("DistilBertBackbone", "RobertaBackbone")
def distil_bert(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    """Output: the sequence (DistilBERT and RoBERTa pool nothing)."""
    roberta = cfg.class_name == "RobertaBackbone"
    epsilon = 1e-5 if roberta else 1e-12
    hidden = cfg.integer("hidden_dim")
    ids = g.input("token_ids", _SEQUENCE, "int32")
    mask = attention_mask(g, g.input("padding_mask", _SEQUENCE, "int32"))
    x = token_and_position(g, "embeddings" if roberta else "token_and_position_embedding", ids,
                           cfg.integer("vocabulary_size"), cfg.integer("max_sequence_length", 512), hidden)
    x = layer_norm(g, "embeddings_layer_norm", x, epsilon, Saved("embeddings_layer_norm"))
    return [_encoders(cfg, g, x, mask, hidden, "gelu", epsilon)]
