"""The largest tensor a run of each keras.applications model makes, as kconvert's runtime bounds it
(``Limits.max_intermediate_bytes``, checked by :mod:`kconvert.ir.footprint` before running).

    python bench/intermediate_sizes.py [BATCH]          # default batch 8, float32

Each model is built by the installed Keras without weights and read from its JSON configuration;
nothing runs.  The README's default for the limit comes from this table.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import kconvert  # noqa: E402
from kconvert.ir.footprint import elements, made_tensors, run_shapes  # noqa: E402

MODELS = ["VGG16", "VGG19", "ResNet50", "ResNet152V2", "MobileNetV2", "InceptionV3", "InceptionResNetV2", "Xception",
          "DenseNet201", "NASNetLarge", "EfficientNetB7", "EfficientNetV2L", "ConvNeXtXLarge"]


def largest(name: str, batch: int) -> tuple[tuple, str, tuple, int]:
    """The model's input shape, and the layer making its largest tensor at ``batch``, its shape and bytes."""
    import keras

    built = getattr(keras.applications, name)(weights=None)
    model = kconvert.load(built.to_json())
    shapes = run_shapes(model, [(batch, *s[1:]) for s in model.input_shapes])
    layer, shape = max(made_tensors(model, shapes), key=lambda pair: elements(pair[1]))
    return model.input_shapes[0][1:], layer.name, shape, elements(shape) * 4


def main() -> None:
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    print(f"| model | input | largest tensor at batch {batch} | layer | MiB (float32) |")
    print("|---|---|---|---|---|")
    for name in MODELS:
        given, layer, shape, size = largest(name, batch)
        print(f"| {name} | {given} | {shape} | {layer} | {size / 2**20:.0f} |", flush=True)


if __name__ == "__main__":
    main()
