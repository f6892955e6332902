"""A model that starts with string preprocessing, written as numbers plus the preprocessing's state.

TF.js, Deeplearning4j and ONNX models take numbers, so a model whose string inputs go straight
into StringLookup or TextVectorization (``ir/layers/text.py``) is written as the numeric model
after those layers (cut there, ``ir/cut.py``), and beside it ``text-preprocessing.json``
(``schemas/text-preprocessing.schema.json``): for each numeric input, the string input it comes
from and everything an application needs to turn strings into it the way Keras does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.cut import cut
from kconvert.ir.graph import Model, TensorRef
from kconvert.ir.layers.text import STRIP_REGEX, TextVectorization
from kconvert.schemas import validate

FILE_NAME = "text-preprocessing.json"
FORMAT = "kconvert-text-preprocessing"


def string_layers(model: Model) -> list[str]:
    """The layers that take the model's strings; refused (typed) unless each reads a model input
    directly and is called once, which is what lets the model be cut after them."""
    names = []
    inputs = {r.layer for r in model.inputs}
    for layer in model.layers:
        if not getattr(layer.config, "takes_strings", False):
            continue
        if len(layer.calls) != 1 or any(r.layer not in inputs for r in layer.calls[0].inputs):
            raise layer.context_error(IncompatibleKerasConfigurationException(
                "string preprocessing that does not read a model input directly: only a model that starts with "
                "it can be written as its numeric part and the preprocessing's state"))
        if getattr(layer.config, "invert", False):
            raise layer.context_error(IncompatibleKerasConfigurationException(
                "an inverted StringLookup makes strings, which the targets do not hold"))
        names.append(layer.name)
    return names


def numeric_part(model: Model) -> tuple[Model, dict[str, Any]] | None:
    """The model after its string preprocessing and that preprocessing's state document; None when
    the model takes no strings."""
    names = string_layers(model)
    if not names:
        return None
    numeric = cut(model, names)
    steps = [_step(model, model.layer(name)) for name in names]
    document = {"format": FORMAT, "version": 1, "model": model.name, "steps": steps,
                "note": "Apply each step to the strings of its 'input' to get the numeric model's input "
                        "'output'; see the README's 'Strings' section."}
    validate(document, "text-preprocessing")
    return numeric, document


def state_path(output: Path) -> Path:
    """Where the state goes: inside a target that is a directory, else beside its file."""
    return output / FILE_NAME if output.is_dir() else output.with_name(output.name + "." + FILE_NAME)


def write_state(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False), encoding="utf-8")


def _step(model: Model, layer: Any) -> dict[str, Any]:
    c = layer.config
    source = layer.calls[0].inputs[0].layer
    step: dict[str, Any] = {
        "kind": layer.kind, "layer": layer.name, "input": source, "output": layer.name, "dtype": c.output_dtype,
        "output_shape": list(model.shape_of(TensorRef(layer.name))),
        "vocabulary": list(c.vocabulary), "num_oov_indices": c.num_oov_indices, "oov_token": c.oov_token,
        "mask_token": c.mask_token, "output_mode": c.output_mode, "pad_to_max_tokens": c.pad_to_max_tokens,
        "max_tokens": c.max_tokens, "idf_weights": list(c.idf_weights) if c.idf_weights is not None else None,
    }
    if c.num_oov_indices > 1:
        raise layer.context_error(IncompatibleKerasConfigurationException(
            f"num_oov_indices={c.num_oov_indices}: Keras spreads unknown tokens over them by a FarmHash "
            "fingerprint that the state file cannot carry (use 0 or 1)"))
    if isinstance(c, TextVectorization):
        step.update(standardize=c.standardize, strip_regex=STRIP_REGEX if c.standardize and "strip" in c.standardize
                    else None, split=c.split, ngrams=list(c.ngrams) if c.ngrams else None,
                    output_sequence_length=c.output_sequence_length)
    return step
