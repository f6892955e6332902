"""Every runtime kernel; importing this package registers them all."""

from kconvert.runtime.kernels import (  # noqa: F401  (imported for registration)
    activations,
    applications,
    attention,
    conv,
    core,
    encoding,
    merge,
    normalization,
    ops,
    pooling,
    preprocessing,
    recurrent,
    reshaping,
    wrappers,
)
