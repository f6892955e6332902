"""Every Keras layer converter; importing this package registers them all."""

from kconvert.readers.keras.layers import activations, attention, conv, core, merge, normalization, recurrent, reshaping, wrappers  # noqa: F401  (imported for registration)
