"""Benchmark: kconvert's runtime against Keras 3's ``predict`` on MobileNetV2 and ResNet50 (CPU).

    .venv/bin/python bench/runtime_speed.py [--rounds N] [--warmup N] [--batch N] [--keep DIR]

Builds both models with random weights (Keras, no download; BatchNorm moving statistics are
randomised so that they are not the trivial 0 and 1), saves each as ``.keras``, loads it with
``kconvert.load`` and runs it with ``kconvert.runtime.Runtime(model, device="cpu")``.  Both models
live in one process; after warm-up the runtime and ``model.predict(x, batch_size=batch, verbose=0)``
are timed alternately for N rounds on the same float32 batch, so that load from other processes
falls on both alike.  Reports the median time of each, the ratio (Keras time / kconvert time) and
the largest absolute difference between the two outputs.
Target: ratio >= 1.0 for both models, and outputs within 1e-4 of Keras's.  Exit 1 when missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU only, before TensorFlow is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ("MobileNetV2", "ResNet50")
TARGET_RATIO = 1.0
TOLERANCE = 1e-4


def build(name: str, path: Path, rng: Any) -> Any:
    """A Keras application with random weights and non-trivial BatchNorm statistics, saved to ``path``."""
    import keras

    model = getattr(keras.applications, name)(weights=None, input_shape=(224, 224, 3))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0.0, 0.5, channels).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype("float32"))
    model.save(path)
    return model


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def compare(name: str, keras_model: Any, path: Path, x: Any, rounds: int, warmup: int, batch: int) -> bool:
    """Time both alternately; prints one line and returns whether the targets are met."""
    import numpy as np

    import kconvert
    from kconvert.runtime import Runtime

    runtime = Runtime(kconvert.load(path), device="cpu")
    runs: dict[str, Callable[[], Any]] = {
        "keras": lambda: keras_model.predict(x, batch_size=batch, verbose=0),
        "kconvert": lambda: runtime(x)[0],
    }
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for i in range(rounds):
        order = list(runs) if i % 2 == 0 else list(reversed(runs))  # neither always runs first
        for key in order:
            start = time.perf_counter()
            runs[key]()
            times[key].append(time.perf_counter() - start)
    difference = float(np.max(np.abs(np.asarray(runs["keras"]()) - np.asarray(runs["kconvert"]()))))
    keras_ms, ours_ms = median_ms(times["keras"]), median_ms(times["kconvert"])
    ratio = keras_ms / ours_ms
    print(f"{name}: Keras predict {keras_ms:.1f} ms, kconvert {ours_ms:.1f} ms (medians of {rounds}), "
          f"ratio {ratio:.2f} (target >= {TARGET_RATIO}); max abs difference {difference:.2e} "
          f"(tolerance {TOLERANCE})")
    return ratio >= TARGET_RATIO and difference <= TOLERANCE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed runs of each, alternating")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each first")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--keep", help="directory to keep the .keras files in")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    args = parser.parse_args()
    import numpy as np

    work = Path(args.keep or tempfile.mkdtemp(prefix="kconvert-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, (args.batch, 224, 224, 3)).astype("float32")
    ok = True
    for name in args.models:
        keras_model = build(name, work / f"{name}.keras", rng)
        ok = compare(name, keras_model, work / f"{name}.keras", x, args.rounds, args.warmup, args.batch) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
