"""An IR training configuration as tf.keras 2's ``training_config`` or Keras 3's ``compile_config``."""

from __future__ import annotations

from typing import Any

from kconvert.errors import UnsupportedKerasConfigurationException
from kconvert.ir.training import Loss, TrainingConfig
from kconvert.writers.context import WriteContext
from kconvert.writers.keras.dialect import KERAS2, Keras2Dialect, Keras3Dialect

#: loss function names whose class name is not the plain CamelCase of the function name
_LOSS_CLASSES = {"kl_divergence": "KLDivergence"}
#: optimizer hyper-parameters Keras 3 removed
_KERAS3_REMOVED = frozenset({"decay", "schedule_decay"})


def training_config(training: TrainingConfig, outputs: list[str], renamed: dict[str, str] | None = None,
                    dialect: Keras2Dialect = KERAS2, ctx: WriteContext | None = None) -> dict[str, Any]:
    """``outputs`` are the written output layer names, in order; ``renamed`` maps the IR's output
    names (which key per-output values) to them where they differ."""
    training = training.renamed(renamed or {})
    keras3 = isinstance(dialect, Keras3Dialect)
    out: dict[str, Any] = {}
    if training.optimizer is not None:
        optimizer = _optimizer(training, keras3, ctx)
        out["optimizer" if keras3 else "optimizer_config"] = optimizer
    if training.losses:
        losses = {name: _loss(loss, dialect, keras3) for name, loss in training.losses.items()}
        distinct = {repr(v) for v in losses.values()}
        out["loss"] = next(iter(losses.values())) if len(distinct) == 1 and len(losses) == len(outputs) else losses
    out["metrics"] = None
    if training.metrics:
        out["metrics"] = training.metrics[""] if set(training.metrics) == {""} else dict(training.metrics)
    out["loss_weights"] = dict(training.loss_weights) if training.loss_weights else None
    out["weighted_metrics"] = None
    if keras3:
        out.update(run_eagerly=False, steps_per_execution=1, jit_compile=False)
    else:
        out["sample_weight_mode"] = None
    return out


def _optimizer(training: TrainingConfig, keras3: bool, ctx: WriteContext | None) -> dict[str, Any]:
    optimizer = training.optimizer
    assert optimizer is not None
    config = dict(optimizer.config)
    if keras3:
        for key in sorted(_KERAS3_REMOVED & set(config)):
            value = config.pop(key)
            if value and ctx is not None:
                ctx.unsupported(UnsupportedKerasConfigurationException(
                    f"Keras 3 optimizers have no {key}; {optimizer.name}({key}={value}) is written without it",
                    key=key))
        return {"module": "keras.optimizers", "class_name": optimizer.name,
                "config": {"name": optimizer.name.lower(), **config}, "registered_name": None}
    return {"class_name": optimizer.name, "config": {"name": optimizer.name, **config}}


def _loss(loss: Loss, dialect: Keras2Dialect, keras3: bool) -> Any:
    """The function name, or the loss class with its arguments when it has any."""
    if not loss.config:
        return loss.name
    class_name = _LOSS_CLASSES.get(loss.name) or "".join(p.capitalize() for p in loss.name.split("_"))
    reduction = "sum_over_batch_size" if keras3 else "auto"
    return dialect.obj("loss", class_name, {"name": loss.name, "reduction": reduction, **loss.config})
