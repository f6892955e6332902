"""Every Keras layer converter; importing this package registers them all."""

from kconvert.readers.keras.layers import (  # noqa: F401  (imported for registration)
    activations,
    applications,
    attention,
    augmentation,
    conv,
    core,
    encoding,
    merge,
    normalization,
    ops,
    preprocessing,
    recurrent,
    reshaping,
    text,
    wrappers,
)
