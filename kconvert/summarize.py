"""Describing a model: a ``model.summary()``-style table and a machine-readable dict.

The dict is what ``kconvert inspect --json`` prints; ``schemas/inspect-report.schema.json`` is its
schema.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from kconvert.ir.graph import Layer, Model, TensorRef
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layout import data_format
from kconvert.ir.shapes import Shape, shape_str

NON_TRAINABLE_WEIGHTS = frozenset({"moving_mean", "moving_variance"})


def summary_dict(model: Model) -> dict[str, Any]:
    """Everything ``inspect`` shows, as JSON-compatible data."""
    shapes = model.shapes()
    trainable, frozen = _param_split(model)
    layers = []
    for layer in model.layers:
        outputs = [[_shape(s) for s in shapes[(layer.name, i)]] for i in range(len(layer.calls))]
        layers.append({
            "name": layer.name,
            "kind": layer.kind,
            "source_class": layer.source_class,
            "output_shapes": outputs,
            "params": model.param_count(layer),
            "trainable": layer.trainable,
            "dtype": layer.dtype,
            "layout": data_format(layer),
            "inbound": [[str(r) for r in call.inputs] for call in layer.calls],
            "attributes": _jsonable(_attributes(layer.config)),
            "weights": [{"name": n, "shape": list(w.shape), "dtype": str(w.dtype)} for n, w in layer.iter_weights()],
        })
    training = model.training.to_dict() if model.training else None
    return {
        "name": model.name,
        "structure": model.structure,
        "provenance": model.provenance.to_dict() if model.provenance else None,
        "inputs": [_tensor(model, r) for r in model.inputs],
        "outputs": [_tensor(model, r) for r in model.outputs],
        "layers": layers,
        "params": {"total": trainable + frozen, "trainable": trainable, "non_trainable": frozen,
                   "weights_loaded": model.has_weights},
        "training": _jsonable(training),
        "notes": model.report.to_list(),
    }


def summary(model: Model, width: int = 100) -> str:
    """A Keras-like text summary of the model, its provenance, training config and notes."""
    info = summary_dict(model)
    prov = info["provenance"] or {}
    facts = [model.structure]
    if prov.get("source_format"):
        facts.append(f"read from {prov['source_format']}")
    if prov.get("keras_version"):
        facts.append(f"Keras {prov['keras_version']}")
    if prov.get("backend"):
        facts.append(f"backend {prov['backend']}" + (" (assumed)" if prov.get("backend_assumed") else ""))
    lines = [f'Model: "{model.name}" ({", ".join(facts)})']
    layouts = any(row["layout"] for row in info["layers"])  # a column only for models with image layers
    cols = (46, 24, 11, 16 if layouts else 0)
    header = (f"{'Layer (type)':<{cols[0]}}{'Output shape':<{cols[1]}}{'Param #':>{cols[2]}}  "
              f"{'Layout' if layouts else '':<{cols[3]}}Connected to")
    lines += [header, "-" * width]
    for layer, row in zip(model.layers, info["layers"]):
        kind = layer.kind if layer.source_class in (None, layer.kind) else f"{layer.kind} <- {layer.source_class}"
        shapes = [", ".join(shape_str(tuple(s)) for s in call) for call in row["output_shapes"]] or ["-"]
        inbound = [", ".join(call) for call in row["inbound"]] or [""]
        params = "-" if row["params"] is None else f"{row['params']:,}"
        for i, (shape, src) in enumerate(zip(shapes, inbound + [""] * (len(shapes) - len(inbound)))):
            name = _clip(f"{layer.name} ({kind})", cols[0] - 1) if i == 0 else ""
            layout = row["layout"] or "" if i == 0 else ""
            lines.append(f"{name:<{cols[0]}}{_clip(shape, cols[1] - 1):<{cols[1]}}"
                         f"{params if i == 0 else '':>{cols[2]}}  {layout:<{cols[3]}}{src}".rstrip())
    p = info["params"]
    lines += ["=" * width, f"Total params: {p['total']:,}" + ("" if p["weights_loaded"] else " (no weights loaded)"),
              f"Trainable params: {p['trainable']:,}", f"Non-trainable params: {p['non_trainable']:,}"]
    for title, tensors in (("Inputs", info["inputs"]), ("Outputs", info["outputs"])):
        lines.append(f"{title}: " + ", ".join(f"{t['name']} {shape_str(tuple(t['shape']))}"
                                              + (f" {t['dtype']}" if t.get("dtype") else "") for t in tensors))
    if model.training:
        lines.append("Training: " + _training_text(model))
    if model.report.notes:
        lines.append(f"Notes ({len(model.report.notes)}):")
        lines += [f"  {note}" for note in model.report.notes]
    return "\n".join(lines)


def _training_text(model: Model) -> str:
    t = model.training
    assert t is not None
    parts = []
    if t.optimizer:
        args = ", ".join(f"{k}={v}" for k, v in t.optimizer.config.items())
        parts.append(f"optimizer {t.optimizer.name}({args})")
    if t.losses:
        names = {loss.name for loss in t.losses.values()}
        parts.append("loss " + (names.pop() if len(names) == 1 else
                                ", ".join(f"{o}: {loss.name}" for o, loss in t.losses.items())))
    metrics = sorted({m for ms in t.metrics.values() for m in ms})
    if metrics:
        parts.append("metrics " + ", ".join(metrics))
    return "; ".join(parts) or "(empty)"


def _param_split(model: Model) -> tuple[int, int]:
    trainable = frozen = 0
    for layer in model.layers:
        count = model.param_count(layer) or 0
        if layer.has_weights():
            for path, w in layer.iter_weights():
                if not layer.trainable or path.split("/")[-1] in NON_TRAINABLE_WEIGHTS:
                    frozen += w.size
                else:
                    trainable += w.size
        elif layer.trainable:
            trainable += count
        else:
            frozen += count
    return trainable, frozen


def _tensor(model: Model, ref: TensorRef) -> dict[str, Any]:
    out: dict[str, Any] = {"name": ref.layer, "node": ref.node, "index": ref.index,
                           "shape": _shape(model.shape_of(ref))}
    layer = model.layer(ref.layer)
    if layer.kind == "InputLayer":
        out["dtype"] = layer.config.dtype  # type: ignore[attr-defined]
    return out


def _shape(shape: Shape) -> list[int | None]:
    return [None if d is None else int(d) for d in shape]


def _attributes(config: LayerConfig) -> dict[str, Any]:
    return {k: v for k, v in config.attributes().items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Layer):
        return {"name": value.name, "kind": value.kind, "attributes": _jsonable(_attributes(value.config))}
    if isinstance(value, Model):
        return {"model": value.name, "layers": [layer.name for layer in value.layers]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
