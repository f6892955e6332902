"""Every runtime kernel; importing this package registers them all."""

from kconvert.runtime.kernels import (  # noqa: F401  (imported for registration)
    activations,
    attention,
    conv,
    core,
    merge,
    normalization,
    ops,
    pooling,
    recurrent,
    reshaping,
    wrappers,
)
