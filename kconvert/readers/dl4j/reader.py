"""The DL4J reader's entry point: a configuration or model zip, as :mod:`kconvert.formats.detect` found it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException, InputReadError, KConvertError
from kconvert.formats.dl4j import COEFFICIENTS, CONFIGURATION, NO_PARAMS, read_array
from kconvert.ir.graph import Model
from kconvert.ir.report import Provenance, Report
from kconvert.ir.weights import warn_if_not_finite
from kconvert.formats.detect import Detected
from kconvert.readers.archive import SafeZip
from kconvert.readers.context import Limits
from kconvert.readers.dl4j.graph import read_graph
from kconvert.readers.dl4j.layer import Parameters
from kconvert.readers.dl4j.multilayer import read_multilayer
from kconvert.readers.dl4j.sizes import inferred_sizes
from kconvert.readers.text import parse_json


def read_dl4j(inp: Detected, limits: Limits, input_shapes: Mapping[str, tuple[int | None, ...]] | None = None) -> Model:
    """A DL4J ``configuration.json`` (no weights, parsed when it was detected) or model zip as an IR model;
    ``input_shapes`` gives inputs (by name, batch left out) the sizes the configuration does not record."""
    values = None
    if inp.kind == "zip":
        config_text, coefficients = _read_zip(inp, limits)
        origin = f"{inp.display}:{COEFFICIENTS}"
        values = np.zeros(0, np.float32) if coefficients is None else \
            warn_if_not_finite(read_array(coefficients, origin).reshape(-1), origin)
        document = parse_json(config_text, inp.display, limits)
    else:
        document = inp.config()
    if not isinstance(document, dict):
        raise InputReadError("a Deeplearning4j configuration that is not a JSON object", file=inp.display)
    params = Parameters(inp.display, values, limits.max_tensor_elements)
    try:
        model, declared = read_graph(document, params, input_shapes or {}) if "vertices" in document else \
            read_multilayer(document, params, input_shapes or {})
        assumed = inferred_sizes(model, declared)
    except KConvertError as exc:
        raise exc.with_context(file=inp.display) from None
    except ValueError as exc:  # an IR layer refusing its attributes or its input shapes
        raise IncompatibleKerasConfigurationException(str(exc), file=inp.display) from None
    if values is not None and params.offset != values.size:
        raise InputReadError(f"{COEFFICIENTS} holds {values.size} parameters but the configuration needs "
                             f"{params.offset}", file=inp.display)
    if values is None:  # a configuration alone: the placeholder parameters go
        for layer in model.iter_layers():
            layer.weights = {}
    model.provenance = Provenance(inp.path, "dl4j-zip" if inp.kind == "zip" else "dl4j-json")
    model.report = Report()
    for note in assumed:
        model.report.add("warning", "assumed", note)
    model.validate(limits.max_tensor_elements, limits.max_rank)
    return model


def _read_zip(inp: Detected, limits: Limits) -> tuple[str, bytes | None]:
    """The configuration text and the coefficients' bytes; None for a model DL4J saved as having no
    parameters (an empty coefficients.bin beside a noParams.marker)."""
    with SafeZip(inp.data if inp.data is not None else inp.path, inp.display, limits,  # type: ignore[arg-type]
                 "Deeplearning4j zip") as archive:
        text, coefficients = archive.read(CONFIGURATION), archive.read(COEFFICIENTS)
        no_params = NO_PARAMS in archive.members
    for name, data in ((CONFIGURATION, text), (COEFFICIENTS, coefficients)):
        if data is None:
            raise InputReadError(f"a Deeplearning4j model zip without {name}", file=inp.display)
    try:
        config = text.decode("utf-8")  # type: ignore[union-attr]
    except UnicodeDecodeError as exc:
        raise InputReadError(f"{CONFIGURATION} is not UTF-8 ({exc.reason} at byte {exc.start})",
                             file=inp.display) from None
    return config, None if coefficients == b"" and no_params else coefficients
