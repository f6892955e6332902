"""The TF.js layers format (``tf.loadLayersModel``): see :func:`write_tfjs`."""

from kconvert.writers.tfjs.writer import MODEL_FILE, write_tfjs

__all__ = ["MODEL_FILE", "write_tfjs"]
