"""The ONNX writer: an IR model as an ONNX graph run by ONNX Runtime (see :mod:`.writer`)."""
