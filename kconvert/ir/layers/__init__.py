"""Every layer kind of the IR; importing this package registers them all."""

from kconvert.ir.layers import (  # noqa: F401  (imported for registration)
    activations,
    applications,
    attention,
    augmentation,
    conv,
    core,
    einsum,
    encoding,
    merge,
    model,
    noise,
    normalization,
    ops,
    pooling,
    preprocessing,
    recurrent,
    reshaping,
    text,
    wrappers,
)
