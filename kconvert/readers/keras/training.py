"""Reading a Keras training configuration (``training_config`` / Keras 3 ``compile_config``)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from kconvert.ir.graph import Model
from kconvert.ir.training import LOSSES, OPTIMIZERS, Loss, Optimizer, TrainingConfig
from kconvert.readers.context import ReadContext
from kconvert.readers.keras.values import class_and_config, suggest

_OPTIMIZER_NAMES = {name.lower(): name for name in OPTIMIZERS}
_OPTIMIZER_KEY_RENAMES = {"lr": "learning_rate"}
#: keys that never change the optimisation (compilation flags, names)
_OPTIMIZER_IRRELEVANT = frozenset({"name", "jit_compile", "is_legacy_optimizer"})
#: keys whose default value means "off"; another value is a setting kconvert does not carry
_OPTIMIZER_OFF = {"weight_decay": (None, 0, 0.0), "global_clipnorm": (None,), "use_ema": (False, None),
                  "loss_scale_factor": (None,), "gradient_accumulation_steps": (None, 1),
                  "clipnorm": (None,), "clipvalue": (None,)}
_EMA_KEYS = frozenset({"ema_momentum", "ema_overwrite_frequency"})
_LOSS_ALIASES = {
    "mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error", "kld": "kl_divergence", "kullback_leibler_divergence":
    "kl_divergence", "k_l_divergence": "kl_divergence", "logcosh": "log_cosh", "cosine_proximity":
    "cosine_similarity", "huber_loss": "huber",
}
_LOSS_KEYS = {"from_logits", "label_smoothing", "axis", "delta", "alpha", "gamma", "apply_class_balancing"}


def read_training_config(raw: Any, model: Model, ctx: ReadContext) -> TrainingConfig | None:
    """Parse a training config; unknown optimizers and losses follow ``enforce_training_config``.

    None when the model was never compiled (nothing to carry).
    """
    if not isinstance(raw, dict):
        return None
    outputs = [ref.layer for ref in model.outputs]
    training = TrainingConfig()
    optimizer = raw.get("optimizer_config", raw.get("optimizer"))
    if optimizer is not None:
        training.optimizer = _optimizer(optimizer, ctx)
    loss = raw.get("loss")
    if loss is not None:
        training.losses = {name: parsed for name, value in _per_output(loss, outputs, ctx, "loss").items()
                           if (parsed := _loss(value, ctx)) is not None}
    weights = raw.get("loss_weights")
    if weights is not None:
        per_output = _per_output(weights, outputs, ctx, "loss_weights")
        training.loss_weights = {k: float(v) for k, v in per_output.items() if isinstance(v, (int, float))}
    for key in ("metrics", "weighted_metrics"):
        if raw.get(key):
            for name, values in _metrics(raw[key], outputs).items():
                training.metrics.setdefault(name, []).extend(values)
    if raw.get("sample_weight_mode") not in (None, "None"):
        ctx.unsupported(f"sample_weight_mode={raw['sample_weight_mode']!r} is not carried", key="sample_weight_mode")
    empty = training.optimizer is None and not training.losses and not training.metrics
    return None if empty else training


def _optimizer(value: Any, ctx: ReadContext) -> Optimizer | None:
    if isinstance(value, str):
        cls, config = value, {}
    elif isinstance(value, dict):
        cls, config = class_and_config(value)
    else:
        ctx.unsupported(f"optimizer {value!r} is not understood; dropped", key="optimizer_config")
        return None
    cls = str(cls or "")
    canonical = _OPTIMIZER_NAMES.get(cls.split(">")[-1].lower())  # tf.keras writes "Custom>Adam"
    if canonical is None:
        ctx.unsupported(f"unknown optimizer {cls!r}{suggest(cls, OPTIMIZERS)}; dropped", key="optimizer_config")
        return None
    params: dict[str, Any] = {}
    for key, v in config.items():
        key = _OPTIMIZER_KEY_RENAMES.get(key, key)
        if key == "learning_rate" and isinstance(v, dict):
            schedule, schedule_config = class_and_config(v)
            ctx.unsupported(f"learning-rate schedule {schedule} is not carried; its initial rate is used",
                            key="learning_rate")
            v = schedule_config.get("initial_learning_rate")
        off = v in _OPTIMIZER_OFF.get(key, ())
        if key in _OPTIMIZER_IRRELEVANT or (key in _EMA_KEYS and not config.get("use_ema")):
            continue
        if key in OPTIMIZERS[canonical]:
            if not off:
                params[key] = _tidy(v)
        elif not off:
            ctx.unsupported(f"optimizer {canonical} argument {key}={v!r} is not carried", key=key)
    return Optimizer(canonical, params)


def _tidy(value: Any) -> Any:
    """Hyper-parameters saved through float32 (0.0010000000474974513) back to their short form."""
    if isinstance(value, float) and value == float(np.float32(value)):
        return float(str(np.float32(value)))
    return value


def _loss(value: Any, ctx: ReadContext) -> Loss | None:
    if isinstance(value, str):
        name, config = value, {}
    elif isinstance(value, dict):
        cls, config = class_and_config(value)
        name = "" if cls is None else cls
        if name in ("LossFunctionWrapper",) and isinstance(config.get("fn"), str):
            name = config["fn"]
    else:
        ctx.unsupported(f"loss {value!r} is not understood; dropped", key="loss")
        return None
    snake = re.sub("([a-z0-9])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)).lower()
    canonical = _LOSS_ALIASES.get(name, _LOSS_ALIASES.get(snake, snake if snake in LOSSES else name))
    if canonical not in LOSSES:
        ctx.unsupported(f"unknown loss {name!r}{suggest(name, LOSSES)}; dropped", key="loss")
        return None
    return Loss(canonical, {k: v for k, v in config.items() if k in _LOSS_KEYS})


def _per_output(value: Any, outputs: list[str], ctx: ReadContext, key: str) -> dict[str, Any]:
    """A value given once, as a list in output order, or as a dict by output name."""
    if isinstance(value, dict) and not ("class_name" in value or "name" in value and key == "loss"):
        unknown = [k for k in value if k not in outputs]
        if unknown:
            ctx.unsupported(f"{key} given for unknown output(s) {unknown}; dropped", key=key)
        return {k: v for k, v in value.items() if k in outputs}
    if isinstance(value, list):
        if len(value) != len(outputs):
            ctx.unsupported(f"{key} lists {len(value)} entries for {len(outputs)} outputs; dropped", key=key)
            return {}
        return dict(zip(outputs, value))
    return {name: value for name in outputs}


def _metrics(value: Any, outputs: list[str]) -> dict[str, list[str]]:
    def name_of(m: Any) -> str | None:
        if isinstance(m, str):
            return m
        if isinstance(m, dict):
            cls, config = class_and_config(m)
            return config.get("name") or config.get("fn") or cls
        return None

    if isinstance(value, dict):
        return {k: [n for m in (v if isinstance(v, list) else [v]) if (n := name_of(m))] for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):  # one list per output
        return {out: [n for m in v if (n := name_of(m))] for out, v in zip(outputs, value)}
    items = value if isinstance(value, list) else [value]
    return {"": [n for m in items if (n := name_of(m))]}
