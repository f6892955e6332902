"""Deeplearning4j configurations and ModelSerializer zips into the IR.

Both JSON dialects are read: ``@class`` objects (1.0.0-beta and later) and the wrapper objects
of 0.x to 1.0.0-alpha (``{"dense": {...}}``).  DL4J records no input shape, so each network
input's shape is derived from the first layer that reads it.  DL4J's channels-first formats
(NCHW images, NCW sequences, the defaults before 1.0.0-beta7) keep their layout: images run as
channels_first layers, sequences are transposed into the IR's (batch, time, features) around
each recurrent layer, so the IR model takes the arrays DL4J takes.  Parameters are sliced from
``coefficients.bin`` in DL4J's order and mapped back to the canonical layout.

One converter per DL4J layer class (:mod:`.layers`), vertex class (:mod:`.vertices`) and input
preprocessor class (:mod:`.preprocessors`), each in a registry keyed by that class.
"""

from kconvert.readers.dl4j import layers  # noqa: F401  (imported for registration)
from kconvert.readers.dl4j.layer import DL4J_LAYERS
from kconvert.readers.dl4j.reader import read_dl4j

__all__ = ["DL4J_LAYERS", "read_dl4j"]
