"""Converters for StringLookup and TextVectorization (``ir/layers/text.py``).

The vocabulary is in the config when it was given there; an adapted layer's is in the ``.keras``
archive's ``assets/`` (``vocabulary.txt`` beside the layer's saved path, special tokens first, as
``get_vocabulary()`` lists it), which the archive reader hands over by layer name.
"""

from __future__ import annotations

from typing import Any

from kconvert.ir.layers import text
from kconvert.readers.keras.layer import KerasLayerConfig, keras_layer


@keras_layer("StringLookup")
def string_lookup(cfg: KerasLayerConfig) -> text.StringLookup:
    return text.StringLookup(**_lookup(cfg, default_mask=None), invert=cfg.boolean("invert", False))


@keras_layer("TextVectorization")
def text_vectorization(cfg: KerasLayerConfig) -> text.TextVectorization:
    standardize = cfg.get("standardize", None)
    split = cfg.get("split", None)
    if standardize not in (None, *text.STANDARDIZE):
        raise cfg.error(f"standardize {standardize!r} is code kconvert does not run (one of "
                        f"{', '.join(text.STANDARDIZE)} or null)", "standardize")
    if split not in (None, *text.SPLIT):
        raise cfg.error(f"split {split!r} is code kconvert does not run (one of {', '.join(text.SPLIT)} or null)",
                        "split")
    ngrams = cfg.get("ngrams", None)
    if isinstance(ngrams, int) and not isinstance(ngrams, bool):
        ngrams = list(range(1, ngrams + 1))
    if ngrams is not None and not (isinstance(ngrams, list) and all(isinstance(n, int) and n > 0 for n in ngrams)):
        raise cfg.error(f"expected an integer or a list of them, got {ngrams!r}", "ngrams")
    length = cfg.get("output_sequence_length", None)
    return text.TextVectorization(
        **_lookup(cfg, default_mask=""), standardize=standardize, split=split,
        ngrams=tuple(ngrams) if ngrams else None,
        output_sequence_length=None if length is None else cfg.integer("output_sequence_length"))


def _lookup(cfg: KerasLayerConfig, default_mask: str | None) -> dict[str, Any]:
    cfg.mark_used("sparse", "ragged", "encoding", "vocabulary_size", "oov_method", "salt", "vocabulary_dtype")
    if cfg.boolean("sparse", False) or cfg.boolean("ragged", False):
        raise cfg.error("sparse or ragged outputs are not dense tensors any target holds", "sparse")
    mode = cfg.choice("output_mode", text.OUTPUT_MODES, "int")
    oov = cfg.integer("num_oov_indices", 1, minimum=0)
    oov_token = cfg.get("oov_token", "[UNK]")
    mask = cfg.get("mask_token", default_mask) if cfg.class_name == "StringLookup" else default_mask
    special = ([mask] if mask is not None and mode == "int" else []) + [oov_token] * oov
    inline = cfg.get("vocabulary", None)
    if isinstance(inline, list) and all(isinstance(t, str) for t in inline):
        vocabulary = special + inline  # given by the user: the special tokens are Keras's to add
    elif isinstance(inline, str) or inline is not None:
        raise cfg.error("a vocabulary file path is not in the saved model (adapt or pass a list)", "vocabulary")
    else:
        saved = cfg.ctx.assets.get(cfg.name)
        if saved is None:
            raise cfg.error("has no vocabulary: none in its config and none among the archive's assets "
                            "(tf_keras .h5 files do not keep an adapted vocabulary; save as .keras)", "vocabulary")
        vocabulary = saved.decode("utf-8").split("\n")
        while vocabulary and vocabulary[-1] == "" and len(vocabulary) > len(special):
            vocabulary.pop()
    idf = cfg.get("idf_weights", None)
    if mode == "tf_idf" and not (isinstance(idf, list) and len(idf) + (mask is not None) >= 1):
        raise cfg.error("output_mode 'tf_idf' without idf_weights in the config (adapted weights are not read)",
                        "idf_weights")
    max_tokens = cfg.get("max_tokens", None)
    return {"vocabulary": tuple(vocabulary), "num_oov_indices": oov, "oov_token": str(oov_token),
            "mask_token": mask, "output_mode": mode, "pad_to_max_tokens": cfg.boolean("pad_to_max_tokens", False),
            "max_tokens": None if max_tokens is None else cfg.integer("max_tokens"),
            "idf_weights": tuple(float(w) for w in idf) if isinstance(idf, list) else None}
