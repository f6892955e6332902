"""The ONNX emitters, one module per family of IR kinds; importing this package registers them all."""

from kconvert.writers.onnx.emitters import conv, core, merge, normalization, recurrent, reshaping  # noqa: F401
