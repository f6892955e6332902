"""Converters for convolution and pooling layers, with Keras 1 kernel layouts and Theano kernels.

Keras 1 stored ``dim_ordering='th'`` kernels output-channel first; kconvert's canonical layout is
Keras 2's (spatial axes, input channels, output channels).  Theano computes a true convolution
(the kernel flipped) where TensorFlow computes a correlation, so kernels trained with Theano are
flipped along their spatial axes.
"""

from __future__ import annotations

from typing import Callable

from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import conv, pooling
from kconvert.ir.weights import Weight
from kconvert.readers.keras.layer import (
    BIAS_K1,
    Binder,
    Converted,
    KerasLayerConfig,
    keras_layer,
    kernel_and_bias,
    ordered,
)

_K1_KERNEL_KEYS = {1: ("filter_length",), 2: ("nb_row", "nb_col"), 3: ("kernel_dim1", "kernel_dim2", "kernel_dim3")}


def no_groups(cfg: KerasLayerConfig) -> None:
    """tf.keras serializes ``groups`` for layers that only support one group."""
    if cfg.integer("groups", 1) != 1:
        raise cfg.error(f"{cfg.class_name} with groups={cfg.get('groups')} is not supported", "groups")


def is_keras1(cfg: KerasLayerConfig) -> bool:
    return cfg.has("nb_filter") or cfg.has("border_mode") or cfg.has("dim_ordering")


def window(cfg: KerasLayerConfig, rank: int, paddings: tuple[str, ...] = ("valid", "same")) -> dict:
    """kernel_size, strides, padding, data_format, dilation_rate in either dialect."""
    if cfg.has("kernel_size"):
        kernel = cfg.ints("kernel_size", rank)
    else:
        kernel = tuple(cfg.integer(k) for k in _K1_KERNEL_KEYS[rank])
    strides = cfg.ints("strides", rank, (1,) * rank, k1="subsample_length" if rank == 1 else "subsample")
    dilation = cfg.ints("dilation_rate", rank, (1,) * rank, k1="atrous_rate")
    return {
        "kernel_size": kernel,
        "strides": strides,
        "padding": cfg.padding(paddings),
        "data_format": cfg.data_format() if rank > 1 or cfg.has("data_format") else "channels_last",
        "dilation_rate": dilation,
    }


def theano_kernels(cfg: KerasLayerConfig) -> bool:
    return cfg.ctx.backend == "theano"


def kernel_binder(cfg: KerasLayerConfig, names: tuple[str, ...],
                  keras1_layout: dict[str, Callable[[Weight], Weight]] | None = None,
                  flip: tuple[str, ...] = ("kernel",), rank: int = 2) -> Binder:
    """Bind by position, bring Keras 1 layouts to canonical, flip Theano-trained kernels."""
    base = ordered(*names)
    convert = keras1_layout if keras1_layout and is_keras1(cfg) else {}
    do_flip = theano_kernels(cfg)

    def bind(saved):  # type: ignore[no-untyped-def]
        weights = base(saved)
        for name, fn in convert.items():
            weights[name] = fn(weights[name])
        if do_flip:
            for name in flip:
                if name in weights:
                    weights[name] = weights[name].flip(range(rank))
            cfg.note("assumed" if cfg.ctx.backend_assumed else "rewritten",
                     "kernel flipped along its spatial axes: trained with Theano, which convolves "
                     "where TensorFlow correlates" + (" (backend assumed)" if cfg.ctx.backend_assumed else ""))
        return weights
    return bind


def _conv1d_k1(cfg: KerasLayerConfig, kernel: int, filters: int) -> Callable[[Weight], Weight]:
    """Keras 1.2 Conv1D kernels are (k, 1, in, filters); older ones (filters, in, k, 1)."""
    def to_canonical(w: Weight) -> Weight:
        shape = w.shape
        if len(shape) == 4 and shape[:2] == (kernel, 1) and shape[3] == filters:
            return w.reshape((kernel, shape[2], filters))
        if len(shape) == 4 and shape[0] == filters and shape[2:] == (kernel, 1):
            return w.transpose((2, 3, 1, 0)).reshape((kernel, shape[1], filters))
        if len(shape) == 3:
            return w
        raise cfg.error(f"Keras 1 Conv1D kernel of shape {shape} does not match filter_length={kernel}, "
                        f"nb_filter={filters}", "kernel")
    return to_canonical


def _conv(cfg: KerasLayerConfig, rank: int, cls: type, paddings: tuple[str, ...]) -> Converted:
    use_bias = cfg.boolean("use_bias", True, k1="bias")
    filters = cfg.integer("filters", k1="nb_filter")
    win = window(cfg, rank, paddings)
    config = cls(filters=filters, groups=cfg.integer("groups", 1), activation=cfg.activation(),
                 use_bias=use_bias, **win)
    names = kernel_and_bias(cfg, use_bias)
    layout: dict[str, Callable[[Weight], Weight]] = {}
    if rank == 1:
        layout["kernel"] = _conv1d_k1(cfg, win["kernel_size"][0], filters)
    elif win["data_format"] == "channels_first":
        layout["kernel"] = lambda w: w.transpose((*range(2, rank + 2), 1, 0))
    return Converted(config, kernel_binder(cfg, names, layout, rank=rank))


@keras_layer("Conv1D", "Convolution1D", "AtrousConvolution1D")
def conv1d(cfg: KerasLayerConfig) -> Converted:
    return _conv(cfg, 1, conv.Conv1D, ("valid", "same", "causal", "full"))


@keras_layer("Conv2D", "Convolution2D", "AtrousConvolution2D")
def conv2d(cfg: KerasLayerConfig) -> Converted:
    return _conv(cfg, 2, conv.Conv2D, ("valid", "same", "full"))


@keras_layer("Conv3D", "Convolution3D")
def conv3d(cfg: KerasLayerConfig) -> Converted:
    return _conv(cfg, 3, conv.Conv3D, ("valid", "same", "full"))


def _conv_transpose(cfg: KerasLayerConfig, rank: int, cls: type) -> Converted:
    no_groups(cfg)
    use_bias = cfg.boolean("use_bias", True, k1="bias")
    win = window(cfg, rank)
    output_padding = cfg.get("output_padding", None)
    if output_padding is not None:
        output_padding = cfg.ints("output_padding", rank, minimum=0)
    if cfg.has("output_shape"):  # Keras 1 Deconvolution2D
        cfg.mark_used("output_shape")
        cfg.note("assumed", "Keras 1 Deconvolution2D output_shape not read: the output size is "
                 "computed from the input size, strides and padding as Keras 2 does", key="output_shape")
    config = cls(filters=cfg.integer("filters", k1="nb_filter"), activation=cfg.activation(),
                 use_bias=use_bias, output_padding=output_padding, **win)
    names = kernel_and_bias(cfg, use_bias)
    # Keras 1 kept (rows, cols, in, out) ('tf') or (out, in, rows, cols) ('th'); canonical is (rows, cols, out, in)
    if win["data_format"] == "channels_first":
        layout = {"kernel": lambda w: w.transpose((*range(2, rank + 2), 0, 1))}
    else:
        layout = {"kernel": lambda w: w.transpose((*range(rank), rank + 1, rank))}
    return Converted(config, kernel_binder(cfg, names, layout, rank=rank))


@keras_layer("Conv1DTranspose")
def conv1d_transpose(cfg: KerasLayerConfig) -> Converted:
    return _conv_transpose(cfg, 1, conv.Conv1DTranspose)


@keras_layer("Conv2DTranspose", "Deconvolution2D", "Deconv2D", "Convolution2DTranspose")
def conv2d_transpose(cfg: KerasLayerConfig) -> Converted:
    return _conv_transpose(cfg, 2, conv.Conv2DTranspose)


@keras_layer("Conv3DTranspose", "Deconvolution3D", "Deconv3D")
def conv3d_transpose(cfg: KerasLayerConfig) -> Converted:
    return _conv_transpose(cfg, 3, conv.Conv3DTranspose)


_UNUSED_KERNEL_KEYS = ("kernel_initializer", "kernel_regularizer", "kernel_constraint")


def _separable(cfg: KerasLayerConfig, rank: int, cls: type) -> Converted:
    cfg.mark_used(*_UNUSED_KERNEL_KEYS)  # tf.keras serializes its Conv base's unused kernel settings
    no_groups(cfg)
    use_bias = cfg.boolean("use_bias", True, k1="bias")
    config = cls(filters=cfg.integer("filters", k1="nb_filter"), depth_multiplier=cfg.integer("depth_multiplier", 1),
                 activation=cfg.activation(), use_bias=use_bias, **window(cfg, rank))
    cfg.weight("depthwise_kernel", prefix="depthwise", k1=("init", "depthwise_regularizer", "depthwise_constraint"))
    cfg.weight("pointwise_kernel", prefix="pointwise", k1=("init", "pointwise_regularizer", "pointwise_constraint"))
    cfg.weight("bias", k1=BIAS_K1)
    names = ("depthwise_kernel", "pointwise_kernel", "bias") if use_bias else ("depthwise_kernel", "pointwise_kernel")
    to_last = {n: (lambda w: w.transpose((*range(2, rank + 2), 1, 0))) for n in names[:2]}
    layout = to_last if config.data_format == "channels_first" else None
    return Converted(config, kernel_binder(cfg, names, layout, flip=("depthwise_kernel",), rank=rank))


@keras_layer("SeparableConv1D", "SeparableConvolution1D")
def separable_conv1d(cfg: KerasLayerConfig) -> Converted:
    return _separable(cfg, 1, conv.SeparableConv1D)


@keras_layer("SeparableConv2D", "SeparableConvolution2D")
def separable_conv2d(cfg: KerasLayerConfig) -> Converted:
    return _separable(cfg, 2, conv.SeparableConv2D)


def _depthwise(cfg: KerasLayerConfig, rank: int, cls: type) -> Converted:
    cfg.mark_used(*_UNUSED_KERNEL_KEYS, "filters")
    no_groups(cfg)
    use_bias = cfg.boolean("use_bias", True)
    config = cls(depth_multiplier=cfg.integer("depth_multiplier", 1), activation=cfg.activation(),
                 use_bias=use_bias, **window(cfg, rank))
    cfg.weight("depthwise_kernel", prefix="depthwise")
    cfg.weight("bias")
    names = ("depthwise_kernel", "bias") if use_bias else ("depthwise_kernel",)
    return Converted(config, kernel_binder(cfg, names, flip=("depthwise_kernel",), rank=rank))


@keras_layer("DepthwiseConv1D")
def depthwise_conv1d(cfg: KerasLayerConfig) -> Converted:
    return _depthwise(cfg, 1, conv.DepthwiseConv1D)


@keras_layer("DepthwiseConv2D")
def depthwise_conv2d(cfg: KerasLayerConfig) -> Converted:
    return _depthwise(cfg, 2, conv.DepthwiseConv2D)


def _locally_connected(cfg: KerasLayerConfig, rank: int, cls: type) -> Converted:
    implementation = cfg.integer("implementation", 1)
    if implementation != 1:
        raise cfg.error(f"implementation={implementation} stores the kernel in a dense or sparse layout "
                        "that kconvert does not read; only implementation=1 is supported", "implementation")
    use_bias = cfg.boolean("use_bias", True, k1="bias")
    config = cls(filters=cfg.integer("filters", k1="nb_filter"), activation=cfg.activation(),
                 use_bias=use_bias, **window(cfg, rank, ("valid",)))
    return Converted(config, ordered(*kernel_and_bias(cfg, use_bias)))


@keras_layer("LocallyConnected1D")
def locally_connected_1d(cfg: KerasLayerConfig) -> Converted:
    return _locally_connected(cfg, 1, conv.LocallyConnected1D)


@keras_layer("LocallyConnected2D")
def locally_connected_2d(cfg: KerasLayerConfig) -> Converted:
    return _locally_connected(cfg, 2, conv.LocallyConnected2D)


# -- pooling -------------------------------------------------------------------------------------

def _pooling(cfg: KerasLayerConfig, rank: int, cls: type) -> LayerConfig:
    if rank == 1 and not cfg.has("pool_size"):
        pool = (cfg.integer("pool_length", 2),)
    else:
        pool = cfg.ints("pool_size", rank, (2,) * rank)
    strides = cfg.get("strides", None, k1="stride")
    strides = pool if strides is None else cfg.ints("strides", rank, k1="stride")
    data_format = cfg.data_format() if rank > 1 or cfg.has("data_format") else "channels_last"
    return cls(pool_size=pool, strides=strides, padding=cfg.padding(), data_format=data_format)


def _register_pooling() -> None:
    for kind, aliases in (("Max", ("MaxPool",)), ("Average", ("AvgPool",))):
        for rank in (1, 2, 3):
            cls = getattr(pooling, f"{kind}Pooling{rank}D")
            names = (f"{kind}Pooling{rank}D", *(f"{a}{rank}D" for a in aliases))
            keras_layer(*names)(lambda cfg, rank=rank, cls=cls: _pooling(cfg, rank, cls))
            gcls = getattr(pooling, f"Global{kind}Pooling{rank}D")
            gnames = (f"Global{kind}Pooling{rank}D", *(f"Global{a}{rank}D" for a in aliases))
            keras_layer(*gnames)(lambda cfg, gcls=gcls: gcls(data_format=cfg.data_format(),
                                                            keepdims=cfg.boolean("keepdims", False)))


_register_pooling()
