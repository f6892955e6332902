"""Deeplearning4j configurations and model zips (see writer.py)."""
