"""Converters for Keras core layers (Keras 1 names beside the modern ones)."""

from __future__ import annotations

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Layer
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import core, noise, ops, wrappers
from kconvert.ir.values import Initializer, WeightSettings
from kconvert.ir.weights import Weight
from kconvert.readers.keras import lambdas
from kconvert.readers.keras.layer import (
    BIAS_K1,
    KERNEL_K1,
    Converted,
    KerasLayerConfig,
    SourceWeight,
    build_layer,
    keras_layer,
    kernel_and_bias,
    ordered,
)


@keras_layer("InputLayer")
def input_layer(cfg: KerasLayerConfig) -> LayerConfig:
    if cfg.has("batch_shape"):
        shape = cfg.shape("batch_shape")
    elif cfg.has("batch_input_shape"):
        shape = cfg.shape("batch_input_shape")
    else:
        shape = (cfg.get("batch_size", None), *cfg.shape("input_shape", batch=False))
    override = cfg.ctx.input_shape_override(cfg.name)
    if override is not None:
        shape = override
    cfg.mark_used("optional")
    return core.InputLayer(
        batch_shape=shape,
        dtype=_input_dtype(cfg),
        sparse=cfg.boolean("sparse", False),
        ragged=cfg.boolean("ragged", False),
    )


def _input_dtype(cfg: KerasLayerConfig) -> str:
    from kconvert.readers.keras.values import dtype

    return dtype(cfg.get("dtype", None, k1="input_dtype")) or "float32"


@keras_layer("Dense")
def dense(cfg: KerasLayerConfig) -> Converted:
    use_bias = cfg.boolean("use_bias", True, k1="bias")
    return Converted(
        core.Dense(units=cfg.integer("units", k1="output_dim"), activation=cfg.activation(), use_bias=use_bias),
        ordered(*kernel_and_bias(cfg, use_bias)))


@keras_layer("TimeDistributedDense")
def time_distributed_dense(cfg: KerasLayerConfig) -> Converted:
    """Keras 1's TimeDistributedDense is TimeDistributed(Dense) with the same weights."""
    inner = dense(cfg)
    layer = Layer(f"{cfg.name}_dense", inner.config, weight_settings=dict(cfg.weight_settings),
                  source_class="Dense")
    cfg.weight_settings.clear()
    cfg.note("rewritten", "Keras 1 TimeDistributedDense read as TimeDistributed(Dense)")

    def bind(saved):  # type: ignore[no-untyped-def]
        layer.weights = inner.bind(saved)  # type: ignore[misc]
        return {}
    return Converted(wrappers.TimeDistributed(layer=layer), bind)


@keras_layer("Activation")
def activation(cfg: KerasLayerConfig) -> LayerConfig:
    return core.Activation(activation=cfg.activation(default="linear"))


def _rate(cfg: KerasLayerConfig) -> float:
    return cfg.number("rate", k1="p", minimum=0.0, maximum=1.0)


def _noise_shape(cfg: KerasLayerConfig) -> tuple[int | None, ...] | None:
    return cfg.shape("noise_shape", None) if cfg.get("noise_shape", None) is not None else None


def _seed(cfg: KerasLayerConfig) -> int | None:
    seed = cfg.get("seed", None)
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


@keras_layer("Dropout")
def dropout(cfg: KerasLayerConfig) -> LayerConfig:
    return noise.Dropout(rate=_rate(cfg), noise_shape=_noise_shape(cfg), seed=_seed(cfg))


@keras_layer("SpatialDropout1D")
def spatial_dropout_1d(cfg: KerasLayerConfig) -> LayerConfig:
    return noise.SpatialDropout1D(rate=_rate(cfg), seed=_seed(cfg))


@keras_layer("SpatialDropout2D")
def spatial_dropout_2d(cfg: KerasLayerConfig) -> LayerConfig:
    return noise.SpatialDropout2D(rate=_rate(cfg), data_format=cfg.image_data_format(), seed=_seed(cfg))


@keras_layer("SpatialDropout3D")
def spatial_dropout_3d(cfg: KerasLayerConfig) -> LayerConfig:
    return noise.SpatialDropout3D(rate=_rate(cfg), data_format=cfg.image_data_format(), seed=_seed(cfg))


@keras_layer("GaussianNoise")
def gaussian_noise(cfg: KerasLayerConfig) -> LayerConfig:
    return noise.GaussianNoise(stddev=cfg.number("stddev", k1="sigma", minimum=0.0), seed=_seed(cfg))


@keras_layer("GaussianDropout")
def gaussian_dropout(cfg: KerasLayerConfig) -> LayerConfig:
    return noise.GaussianDropout(rate=_rate(cfg), seed=_seed(cfg))


@keras_layer("AlphaDropout")
def alpha_dropout(cfg: KerasLayerConfig) -> LayerConfig:
    return noise.AlphaDropout(rate=_rate(cfg), noise_shape=_noise_shape(cfg), seed=_seed(cfg))


@keras_layer("Flatten")
def flatten(cfg: KerasLayerConfig) -> LayerConfig:
    return core.Flatten(data_format=cfg.data_format())


@keras_layer("Reshape")
def reshape(cfg: KerasLayerConfig) -> LayerConfig:
    target = cfg.get("target_shape")
    if not isinstance(target, (list, tuple)):
        raise cfg.error(f"expected a list of dimensions, got {target!r}", "target_shape")
    dims = tuple(-1 if d in (-1, None) else cfg._int(d, "target_shape", 1) for d in target)
    return core.Reshape(target_shape=dims)


@keras_layer("Permute")
def permute(cfg: KerasLayerConfig) -> LayerConfig:
    dims = cfg.get("dims")
    if not isinstance(dims, (list, tuple)) or not dims:
        raise cfg.error(f"expected a list of axes, got {dims!r}", "dims")
    return core.Permute(dims=tuple(cfg._int(d, "dims", 1) for d in dims))


@keras_layer("RepeatVector")
def repeat_vector(cfg: KerasLayerConfig) -> LayerConfig:
    return core.RepeatVector(n=cfg.integer("n"))


@keras_layer("Masking")
def masking(cfg: KerasLayerConfig) -> LayerConfig:
    return core.Masking(mask_value=cfg.number("mask_value", 0.0))


@keras_layer("ActivityRegularization")
def activity_regularization(cfg: KerasLayerConfig) -> LayerConfig:
    return core.ActivityRegularization(l1=cfg.number("l1", 0.0), l2=cfg.number("l2", 0.0))


@keras_layer("Highway")
def highway(cfg: KerasLayerConfig) -> Converted:
    use_bias = cfg.boolean("use_bias", True, k1="bias")
    cfg.weight("kernel", k1=KERNEL_K1)
    cfg.weight("bias", k1=BIAS_K1)
    # Keras <= 1.1 started the carry bias at transform_bias; 1.2 (which still saved the key) at ones
    transform_bias = cfg.number("transform_bias", None)
    legacy_init = transform_bias is not None and not (cfg.ctx.keras_version or "").startswith("1.2")
    if use_bias:
        cfg.weight_settings["carry_bias"] = WeightSettings(
            Initializer("Constant", {"value": transform_bias}) if legacy_init else Initializer("Ones"))
    names = ("kernel", "carry_kernel", "bias", "carry_bias") if use_bias else ("kernel", "carry_kernel")
    base = ordered(*names)

    def bind(saved: list[SourceWeight]) -> dict[str, Weight]:
        if use_bias and len(saved) == 4 and len(saved[1].weight.shape) == 1:
            saved = [saved[0], saved[2], saved[1], saved[3]]  # Keras <= 1.1 saved W, b, W_carry, b_carry
        return base(saved)
    return Converted(core.Highway(activation=cfg.activation(), use_bias=use_bias), bind)


@keras_layer("MaxoutDense")
def maxout_dense(cfg: KerasLayerConfig) -> Converted:
    use_bias = cfg.boolean("use_bias", True, k1="bias")
    config = core.MaxoutDense(units=cfg.integer("units", k1="output_dim"),
                              nb_feature=cfg.integer("nb_feature", 4), use_bias=use_bias)
    return Converted(config, ordered(*kernel_and_bias(cfg, use_bias)))


@keras_layer("Embedding")
def embedding(cfg: KerasLayerConfig) -> Converted:
    cfg.weight("embeddings", k1=KERNEL_K1)
    drop = cfg.number("dropout", 0.0)  # Keras 1 only
    if drop:
        cfg.unsupported(f"Keras 1 Embedding dropout={drop} is not carried (use SpatialDropout1D)", "dropout")
    cfg.mark_used("input_length", "sparse")
    config = core.Embedding(input_dim=cfg.integer("input_dim"), output_dim=cfg.integer("output_dim"),
                            mask_zero=cfg.boolean("mask_zero", False))
    return Converted(config, ordered("embeddings"))


@keras_layer("Rescaling")
def rescaling(cfg: KerasLayerConfig) -> LayerConfig:
    def value(key: str, default: float) -> float | tuple[float, ...]:
        v = cfg.get(key, default)
        items = v if isinstance(v, (list, tuple)) else [v]
        if not items or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in items):
            raise cfg.error(f"expected a number or a list of numbers, got {v!r}", key)
        return tuple(float(x) for x in items) if isinstance(v, (list, tuple)) else float(v)
    return core.Rescaling(scale=value("scale", 1.0), offset=value("offset", 0.0))


@keras_layer("Lambda")
def lambda_layer(cfg: KerasLayerConfig) -> Converted | LayerConfig:
    """A Lambda is read only through a registered replacement; its bytecode is never decoded."""
    info = lambdas.describe(cfg.name, cfg.raw)
    cfg.mark_used(*cfg.raw)
    replacement = lambdas.find_replacement(cfg.name, dict(cfg.ctx.options.lambdas))
    if replacement is None:
        what = (f"calls the Python function {info.function_name}" if info.function_name
                else f"carries {info.code_bytes} bytes of Python bytecode (sha256 {str(info.code_sha256)[:16]})")
        raise IncompatibleKerasConfigurationException(
            f"Lambda layer {what}, which kconvert never runs; declare what it computes with "
            f"kconvert.register_lambda({cfg.name!r}, ...) or load(..., lambdas={{{cfg.name!r}: ...}})",
            key="function")
    if callable(replacement) and not isinstance(replacement, (LayerConfig, dict)):
        replacement = replacement(info)
    cfg.note("rewritten", "Lambda layer replaced by the registered " + (
        replacement.kind if isinstance(replacement, LayerConfig) else str(replacement.get("class_name"))))
    if isinstance(replacement, LayerConfig):
        return replacement
    if isinstance(replacement, dict):
        node = {"class_name": replacement.get("class_name"),
                "config": {**(replacement.get("config") or {}), "name": cfg.name}}
        layer, converted = build_layer(node, cfg.ctx)
        cfg.weight_settings.update(layer.weight_settings)
        return converted
    raise IncompatibleKerasConfigurationException(
        f"the replacement registered for Lambda {cfg.name!r} returned {type(replacement).__name__}, "
        "not a layer config")


@keras_layer("NotEqual", operation=True)
def not_equal(cfg: KerasLayerConfig) -> LayerConfig:
    """Keras 3 ``ops.not_equal(x, value)``: the value is the call's second, non-tensor argument."""
    values = set()
    nodes = cfg.node.get("inbound_nodes") or []
    if not isinstance(nodes, list):
        raise cfg.error(f"expected a list of calls, got {type(nodes).__name__}", "inbound_nodes")
    for node in nodes:
        args = node.get("args") if isinstance(node, dict) else None
        if not isinstance(args, list) or len(args) != 2 or isinstance(args[1], bool) \
                or not isinstance(args[1], (int, float)):
            raise cfg.error("expected a call comparing a tensor with a number", "inbound_nodes")
        values.add(float(args[1]))
    if len(values) != 1:
        raise cfg.error("the operation is called with different values", "inbound_nodes")
    return ops.NotEqual(value=values.pop())


@keras_layer("Identity")
def identity(cfg: KerasLayerConfig) -> LayerConfig:
    return core.Identity()
