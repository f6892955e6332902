"""Converters for the index-encoding preprocessing layers (Discretization, CategoryEncoding,
IntegerLookup, Hashing)."""

from __future__ import annotations

from kconvert.ir.layers import encoding
from kconvert.readers.keras.layer import KerasLayerConfig, keras_layer


def _dense(cfg: KerasLayerConfig) -> None:
    if cfg.boolean("sparse", False):
        raise cfg.error("sparse=True outputs a sparse tensor, which no target kconvert writes holds", "sparse")


def _mode(cfg: KerasLayerConfig, default: str) -> str:
    mode = cfg.get("output_mode", default)
    if mode == "tf_idf":
        raise cfg.error("output_mode 'tf_idf' (counts weighted by the adapted idf weights) is not read", "output_mode")
    return cfg.choice("output_mode", encoding.OUTPUT_MODES, default)


@keras_layer("CategoryEncoding")
def category_encoding(cfg: KerasLayerConfig) -> encoding.CategoryEncoding:
    _dense(cfg)
    return encoding.CategoryEncoding(num_tokens=cfg.integer("num_tokens"),
                                     output_mode=cfg.choice("output_mode", ("one_hot", "multi_hot", "count"),
                                                            "multi_hot"))


@keras_layer("Discretization")
def discretization(cfg: KerasLayerConfig) -> encoding.Discretization:
    _dense(cfg)
    boundaries = cfg.get("bin_boundaries", None)
    if not isinstance(boundaries, list):
        raise cfg.error("bin_boundaries are not in the configuration (an adapted layer saves them only as "
                        "state kconvert does not read)", "bin_boundaries")
    cfg.mark_used("num_bins", "epsilon")  # used only by adapt
    try:
        return encoding.Discretization(bin_boundaries=tuple(float(b) for b in boundaries),
                                       output_mode=_mode(cfg, "int"))
    except (TypeError, ValueError) as exc:
        raise cfg.error(str(exc), "bin_boundaries") from None


@keras_layer("IntegerLookup")
def integer_lookup(cfg: KerasLayerConfig) -> encoding.IntegerLookup:
    _dense(cfg)
    vocabulary = cfg.get("vocabulary", None)
    if not isinstance(vocabulary, list) or not all(isinstance(v, int) for v in vocabulary):
        raise cfg.error("the vocabulary is not a list of integers in the configuration (an adapted or file "
                        "vocabulary is saved apart, where kconvert does not read it)", "vocabulary")
    if cfg.get("oov_method", "floormod") != "floormod":
        raise cfg.error("oov_method 'farmhash' hashes unknown values with FarmHash, which kconvert does not "
                        "express", "oov_method")
    cfg.mark_used("max_tokens", "pad_to_max_tokens", "vocabulary_dtype", "vocabulary_size", "oov_method", "salt",
                  "idf_weights")
    mask, oov, slots = cfg.get("mask_token", None), cfg.get("oov_token", -1), cfg.integer("num_oov_indices", 1,
                                                                                             minimum=0)
    if mask is not None and vocabulary[:1] == [mask]:  # Keras takes the special tokens off a vocabulary's head
        vocabulary = vocabulary[1:]
    if slots and vocabulary[:slots] == [oov] * slots:
        vocabulary = vocabulary[slots:]
    try:
        return encoding.IntegerLookup(
            vocabulary=tuple(vocabulary), num_oov_indices=slots, mask_token=mask, oov_token=oov,
            invert=cfg.boolean("invert", False),
            output_mode=_mode(cfg, "int"))
    except ValueError as exc:
        raise cfg.error(str(exc), "vocabulary") from None


@keras_layer("Hashing")
def hashing(cfg: KerasLayerConfig) -> encoding.Hashing:
    _dense(cfg)
    salt = cfg.get("salt", None)
    if isinstance(salt, int) and not isinstance(salt, bool):
        salt = [salt, salt]  # as both Keras generations read a single integer
    if salt is not None and (not isinstance(salt, list) or len(salt) != 2
                             or not all(isinstance(s, int) and not isinstance(s, bool) for s in salt)):
        raise cfg.error(f"salt must be an integer or two integers, got {salt!r}", "salt")
    mask = cfg.get("mask_value", None)
    if mask is not None and (isinstance(mask, bool) or not isinstance(mask, (int, float, str))):
        raise cfg.error(f"mask_value must be a number or a string, got {mask!r}", "mask_value")
    try:
        return encoding.Hashing(num_bins=cfg.integer("num_bins"), mask_value=mask,
                                salt=tuple(salt) if salt is not None else None, output_mode=_mode(cfg, "int"))
    except ValueError as exc:
        raise cfg.error(str(exc), "salt" if "salt" in str(exc) else "num_bins") from None
