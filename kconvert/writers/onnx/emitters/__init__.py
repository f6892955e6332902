"""The ONNX emitters, one module per family of IR kinds; importing this package registers them all."""

from kconvert.writers.onnx.emitters import (  # noqa: F401
    attention, conv, conv_recurrent, core, encoding, merge, normalization, ops, recurrent, reshaping, wrappers)
