"""DL4J's YOLOv2 output layer as what it computes at inference (its loss serves training only)."""

from __future__ import annotations

from kconvert.ir.layers import activations as act
from kconvert.ir.layers import core, merge
from kconvert.ir.layers.ops import GetItem, Index
from kconvert.ir.shapes import Shape
from kconvert.readers.dl4j.layer import SOURCE, Entry, Parameters, dl4j_layer
from kconvert.readers.dl4j.spec import Keys, LayerSpec


def _priors(spec: LayerSpec) -> list[tuple[float, float]]:
    """``boundingBoxes``, DL4J's [boxes, 2] array of (width, height) priors in grid cells."""
    raw = Keys(spec.get("boundingBoxes", {}) or {})
    shape, data = raw.integers("shape"), raw.get("data")
    if len(shape) != 2 or shape[1] != 2 or not isinstance(data, list) or len(data) != 2 * shape[0]:
        raise spec.error("expected a [boxes, 2] array of priors", "boundingBoxes")
    values = [Keys({"v": v}).number("v") for v in data]
    return [(values[2 * i], values[2 * i + 1]) for i in range(shape[0])]


@dl4j_layer("objdetect.Yolo2OutputLayer")
def yolo2(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """Per box, of its 5 + classes channels (NCHW): sigmoid of x and y, exp of w and h times the box's prior,
    sigmoid of the confidence, softmax over the classes (YoloUtils.activate); the channels keep their places."""
    if spec.cnn_format() != "NCHW":
        raise spec.error(f"a YOLOv2 output of {spec.cnn_format()} images: not supported")
    priors = _priors(spec)
    channels = shape[1] if len(shape) == 4 else None
    if channels is None or channels % len(priors) or channels // len(priors) < 6:
        raise spec.error(f"{channels} channels are not 5 + classes for each of {len(priors)} boxes")
    per_box = channels // len(priors)
    entries: list[Entry] = []
    pieces: list[str] = []

    def piece(name: str, start: int, stop: int, *then: object) -> None:
        taken = (f"{name}_slice", GetItem(items=(Index("slice"), Index("slice", start, stop))), {}, (SOURCE,))
        entries.append(taken)
        entries.extend((f"{name}_{i}", config, {}) for i, config in enumerate(then))  # type: ignore[misc]
        pieces.append(entries[-1][0])
    for box, (width, height) in enumerate(priors):
        at, name = box * per_box, f"{spec.name}_box{box}"
        piece(f"{name}_xy", at, at + 2, core.Activation(activation="sigmoid"))
        piece(f"{name}_w", at + 2, at + 3, core.Activation(activation="exponential"), core.Rescaling(scale=width))
        piece(f"{name}_h", at + 3, at + 4, core.Activation(activation="exponential"), core.Rescaling(scale=height))
        piece(f"{name}_confidence", at + 4, at + 5, core.Activation(activation="sigmoid"))
        piece(f"{name}_classes", at + 5, at + per_box, act.Softmax(axis=1))
    return [*entries, (spec.name, merge.Concatenate(axis=1), {}, tuple(pieces))]
