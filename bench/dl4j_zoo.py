"""Benchmark: every deeplearning4j-zoo model (1.0.0-M2.1) DL4J builds, through kconvert and back.

    .venv/bin/python bench/dl4j_zoo.py [MODEL ...] [--keep DIR] [--reuse] [--double]

Each model is built by its builder (small inputs where the constructor allows: ``ZOO``) and ``init()``
(DL4J's own random parameters) and run in the real Deeplearning4j, all in one JVM; then kconvert reads
the zip DL4J saved, and each column compares with DL4J's output (atol = rtol = 1e-4):

* runtime: kconvert's runtime;
* .keras: written channels-last, loaded by Keras 3 in safe mode, ``predict``;
* TF.js: written, run by tfjs in Node (one process for all);
* DL4J: written (``OUT/model.zip``), restored and run by DL4J (one JVM for all);
* with ``--double``, the zoo zip and kconvert's runtime both in double precision: what tells float32
  rounding a randomly initialised network amplifies (InceptionResNetV1: activations reach 5e6 before
  tanh) from a difference in what is computed.

A cell holds the largest absolute difference, or why the model was refused (the writer and layer it
names).  Not a test: the suite's tests/test_dl4j_zoo.py runs the small members; this runs them all.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kconvert  # noqa: E402

ATOL = RTOL = 1e-4
#: zoo class -> builder settings (the smallest input each builds and runs at)
ZOO: dict[str, dict[str, Any]] = {
    "LeNet": {"numClasses": 5, "inputShape": [1, 28, 28]},
    "SimpleCNN": {"numClasses": 5, "inputShape": [3, 32, 32]},
    "SqueezeNet": {"numClasses": 5, "inputShape": [3, 64, 64]},
    "AlexNet": {"numClasses": 5, "inputShape": [3, 100, 100]},
    "VGG16": {"numClasses": 5, "inputShape": [3, 32, 32]},
    "Darknet19": {"numClasses": 5, "inputShape": [3, 64, 64]},
    "TinyYOLO": {"numClasses": 5, "inputShape": [3, 64, 64]},
    "UNet": {"numClasses": 5, "inputShape": [3, 32, 32]},
    "Xception": {"numClasses": 5, "inputShape": [3, 71, 71]},
    "InceptionResNetV1": {"numClasses": 5, "inputShape": [3, 160, 160]},
    "FaceNetNN4Small2": {"numClasses": 5, "inputShape": [3, 96, 96]},
    # the smallest input whose last stage keeps 3x3 for its final 3x3 pooling (64x64 leaves 1x1: nIn=0)
    "ResNet50": {"numClasses": 5, "inputShape": [3, 133, 133]},
    # no numClasses: the characters are its classes; inputShape is (steps, characters)
    "TextGenerationLSTM": {"totalUniqueCharacters": 7, "inputShape": [6, 7]},
}


def _input(settings: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    shape = settings["inputShape"]
    if len(shape) == 2:  # TextGenerationLSTM: (steps, characters), given as DL4J's NCW
        return rng.normal(size=(1, shape[1], shape[0])).astype("float32")
    return rng.normal(size=(1, *shape)).astype("float32")


def _input_shapes(path: Path, x: np.ndarray) -> dict[str, tuple[int, ...]]:
    """A graph's input's shape by its name (networkInputs); none for a MultiLayerNetwork, whose first layer declares
    its input (LeNet's zoo configuration takes flattened images)."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("configuration.json"))
    return {name: x.shape[1:] for name in document.get("networkInputs", [])}


def _diff(got: np.ndarray, want: np.ndarray) -> float | str:
    if got.size != want.size:
        return f"shape {got.shape} != DL4J's {want.shape}"
    return float(np.abs(got.reshape(want.shape) - want).max())


def _refusal(exc: Exception) -> str:
    text = str(exc)
    return "refused: " + text.split(": ", 1)[-1][:150]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(ZOO))
    parser.add_argument("--keep", type=Path, help="where the zoo zips and written models go (kept)")
    parser.add_argument("--reuse", action="store_true", help="use the zoo zips already in --keep")
    parser.add_argument("--double", action="store_true", help="also compare in double precision")
    args = parser.parse_args()
    from kconvert.verification.dl4j_runner import run_dl4j_many, run_zoo_many
    from kconvert.verification.tfjs_runner import run_tfjs_many

    work = args.keep or Path(tempfile.mkdtemp(prefix="kconvert-dl4j-zoo-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = args.models
    inputs = {n: _input(ZOO[n], rng) for n in names}
    zips = {n: work / f"{n}.zip" for n in names}
    started = time.perf_counter()
    if args.reuse and all((work / f"{n}.out.npy").exists() for n in names):
        built = {n: (np.load(work / f"{n}.in.npy"), np.load(work / f"{n}.out.npy"), None) for n in names}
    else:
        runs = run_zoo_many([(n, {"seed": 3, **ZOO[n]}, [inputs[n]]) for n in names], list(zips.values()))
        built = {}
        for n, run in zip(names, runs):
            built[n] = (inputs[n], run.outputs[0] if not run.error else None, run.error)
            if not run.error:
                np.save(work / f"{n}.in.npy", inputs[n])
                np.save(work / f"{n}.out.npy", run.outputs[0])
    print(f"built in DL4J: {time.perf_counter() - started:.0f} s", flush=True)

    rows: dict[str, dict[str, Any]] = {}
    tfjs_jobs, dl4j_jobs = [], []
    for n in names:
        x, want, error = built[n]
        row = rows.setdefault(n, {"read": None, "runtime": "", ".keras": "", "TF.js": "", "DL4J": ""})
        if error:
            row["read"] = "DL4J cannot build it: " + error.split(": ", 1)[-1][:150]
            continue
        try:  # DL4J records no input sizes: the shape the model was built for, as a user gives it
            model = kconvert.load(zips[n], input_shapes=_input_shapes(zips[n], x))
        except Exception as exc:  # noqa: BLE001  (a refusal: recorded in the table)
            row["read"] = _refusal(exc)
            continue
        row["read"] = "yes"
        with model:
            if len(model.input_shapes[0]) == 2 and x.ndim > 2:  # convolutionalFlat: DL4J takes either
                x = x.reshape(len(x), -1)
            (got,) = kconvert.run(model, [x], device="cpu")
            row["runtime"] = _diff(got, want)
            if args.double:
                (got64,) = kconvert.run(model, [x.astype("float64")], device="cpu", dtype="float64")
                row["runtime f64"] = got64
            for column, target, path, options in ((".keras", "keras", work / f"{n}.keras", {"layout": "channels_last"}),
                                                  ("TF.js", "tfjs", work / f"{n}-tfjs", {}),
                                                  ("DL4J", "dl4j", work / f"{n}-dl4j", {})):
                try:
                    kconvert.write(model, target, path, **options)
                except Exception as exc:  # noqa: BLE001
                    row[column] = _refusal(exc)
                    continue
                if target == "keras":
                    import keras

                    loaded = keras.saving.load_model(path, safe_mode=True)
                    row[column] = _diff(np.asarray(loaded.predict(x, verbose=0)), want)
                elif target == "tfjs":
                    tfjs_jobs.append((n, path, x))
                else:
                    dl4j_jobs.append((n, path / "model.zip", x))
    if tfjs_jobs:
        for (n, _, _), run in zip(tfjs_jobs, run_tfjs_many([(p, [x], []) for _, p, x in tfjs_jobs])):
            rows[n]["TF.js"] = run.error[:150] if run.error else _diff(run.outputs[0], built[n][1])
    if dl4j_jobs:
        for (n, _, _), run in zip(dl4j_jobs, run_dl4j_many([(p, [x], []) for _, p, x in dl4j_jobs])):
            rows[n]["DL4J"] = run.error[:150] if run.error else _diff(run.outputs[0], built[n][1])
    if args.double:
        read = [n for n in names if rows[n]["read"] == "yes"]
        runs = run_dl4j_many([(zips[n], [built[n][0]], []) for n in read], dtype="double")
        for n, run in zip(read, runs):
            rows[n]["f64"] = run.error[:150] if run.error else _diff(rows[n].pop("runtime f64"), run.outputs[0])

    columns = ["read", "runtime", ".keras", "TF.js", "DL4J"] + (["f64"] if args.double else [])
    print("| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    matched = 0
    for n in names:
        cells = [rows[n].get(c, "") for c in columns]
        text = [f"{c:.1e}" + ("" if c <= ATOL else " (differs)") if isinstance(c, float) else str(c) for c in cells]
        print(f"| {n} | " + " | ".join(text) + " |")
        matched += isinstance(cells[1], float) and cells[1] <= ATOL
    print(f"{sum(r['read'] == 'yes' for r in rows.values())}/{len(names)} read, {matched} match DL4J in the runtime;"
          f" {time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
