"""Readers: every supported input format into the IR.

:func:`read_model` resolves the input, sniffs its format by content and dispatches to the
format's reader.
"""

from __future__ import annotations

from kconvert.errors import KConvertError
from kconvert.ir.graph import Model
from kconvert.readers.context import LoadOptions
from kconvert.readers.source import Input, SourceLike, resolve


def read_model(source: SourceLike, weights: SourceLike | None, options: LoadOptions) -> Model:
    from kconvert.readers.keras.reader import read_keras

    model_input = resolve(source, options.limits)
    if weights is None and _is_dl4j(model_input, options):
        from kconvert.readers.dl4j import read_dl4j

        return read_dl4j(model_input, options.limits)
    weights_input = resolve(weights, options.limits) if weights is not None else None
    return read_keras(model_input, weights_input, options)


def _is_dl4j(inp: Input, options: LoadOptions) -> bool:
    """A Deeplearning4j model zip, or a configuration with its MultiLayer or ComputationGraph keys."""
    from kconvert.readers.dl4j import is_dl4j_config, is_dl4j_zip
    from kconvert.readers.text import parse_json

    if inp.kind == "zip":
        return is_dl4j_zip(inp.content())
    if inp.kind != "json":
        return False
    try:
        text = inp.text(options.limits)
        # parse only what names a DL4J key: a Keras configuration is then parsed once, by its reader
        return ('"confs"' in text or '"networkInputs"' in text) and is_dl4j_config(
            parse_json(text, inp.display, options.limits))
    except KConvertError:
        return False  # the Keras reader reports it
