"""Keras 3's native format facts shared by its reader and writer.

A ``.keras`` archive holds ``config.json``, ``metadata.json`` and ``model.weights.h5``; the
weights file mirrors the object tree: ``layers/<key>/vars/<i>``, where ``<key>`` is the
snake-cased class name made unique within its container (``dense``, ``dense_1``...), with
sub-objects such as ``cell``, ``forward_layer``, ``layer`` or a nested model's own ``layers``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

ARCHIVE_CONFIG, ARCHIVE_METADATA, ARCHIVE_WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
#: a KerasHub task preset (``save_to_preset``) saves the head's weights here and its backbone's
#: in ``ARCHIVE_WEIGHTS`` beside it
HUB_TASK_WEIGHTS = "task.weights.h5"

#: what marks a graph entry as a Keras 3 operation (a ``keras.ops`` call) rather than a layer
OPERATION_PACKAGE = "keras.src.ops"
#: the modules Keras 3 records for its operations (each operation class's ``__module__``): an entry
#: claiming to be an operation must name one of them exactly, never a path built from the prefix
OPERATION_MODULES = frozenset(f"{OPERATION_PACKAGE}.{name}" for name in (
    "core", "einops", "image", "linalg", "math", "nn", "numpy"))


def snake_case(name: str) -> str:
    """Keras 3's object-path naming of a class (``BatchNormalization`` -> ``batch_normalization``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def container_keys(class_names: Iterable[str]) -> list[str]:
    """The keys of a container's layers, from their class names, in order."""
    used: dict[str, int] = {}
    keys = []
    for class_name in class_names:
        base = snake_case(class_name)
        if base in used:
            used[base] += 1
            keys.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            keys.append(base)
    return keys


def weights_beside(config: Path) -> Path:
    """Where the weights of a configuration file go: ``model.json`` -> ``model.weights.h5``."""
    return config.with_name(config.name[: -len(config.suffix)] + ".weights.h5")
