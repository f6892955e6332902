"""Benchmark: Deeplearning4j's own Keras import against kconvert, on the real-world Keras corpus.

    .venv/bin/python bench/dl4j_import.py [--corpus DIR] [--verbose]

Every full-model HDF5 file of the corpus (``$KCONVERT_SHARED/fixtures/keras-realworld``, else
``../shared/fixtures/keras-realworld``: files with a ``model_config``) goes two ways into the real
Deeplearning4j 1.0.0-M2.1 (the harness of ``kconvert.verification.dl4j_runner``, one JVM per way):

* DL4J's ``KerasModelImport`` (``importKerasSequentialModelAndWeights`` for a Sequential model,
  else ``importKerasModelAndWeights``; enforceTrainingConfig=false), then ``output()``;
* kconvert: load, write a DL4J zip, restore it in DL4J, ``output()``.

Both are compared, at atol = rtol = 1e-4, with the file's stored predictions (its
``*_inputs_and_outputs.h5``), else the installed tf_keras / Keras, else (Keras 1 files no installed
Keras reads) kconvert's runtime on the source.  DL4J's import is given Keras's channels-last
arrays first and, where that fails, channels-first ones (its recurrent layers may read NCW).
Prints one row per file and the totals.  Not a test: DL4J's import is measured, not judged.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import REALWORLD as CORPUS  # noqa: E402  (KCONVERT_SHARED, else ../shared)
from tests.helpers import stored_predictions  # noqa: E402  (the corpus's *_inputs_and_outputs.h5 files)

ATOL = RTOL = 1e-4


@dataclass
class Case:
    name: str
    path: Path
    sequential: bool
    inputs: list[np.ndarray] | None = None
    reference: str = ""
    expected: list[np.ndarray] | None = None
    kconvert_status: str = ""  # converted | refused: ... | unread: ...
    zip_path: Path | None = None


def full_models(corpus: Path) -> list[tuple[Path, bool]]:
    """Full-model HDF5 files (with a model_config) and whether each is a Sequential model."""
    out = []
    for path in sorted(p for p in corpus.glob("**/*.h*5") if "inputs_and_outputs" not in p.name):
        try:
            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
        except OSError:
            continue
        if raw is None:
            continue
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        out.append((path, config.get("class_name") == "Sequential"))
    return out


def prepare(corpus: Path, scratch: Path) -> list[Case]:
    """Inputs and references for each file, and kconvert's DL4J export of it."""
    import kconvert
    from kconvert.verification.inputs import generate_inputs
    from kconvert.verification.keras_reference import run_many

    cases, models = [], {}
    for path, sequential in full_models(corpus):
        case = Case(str(path.relative_to(corpus)), path, sequential)
        cases.append(case)
        try:
            model = kconvert.load(path)
        except kconvert.KConvertError as exc:
            case.kconvert_status = f"unread: {exc}"
            continue
        models[case.name] = model
        saved = stored_predictions(path)
        case.inputs = saved[0] if saved else generate_inputs(model, 2, 0)
        if saved:
            case.reference, case.expected = "stored", saved[1]
        try:
            written = kconvert.write(model, "dl4j", scratch / case.name.replace("/", "__"))
            case.kconvert_status, case.zip_path = "converted", Path(written.files[-1])
        except kconvert.KConvertError as exc:
            case.kconvert_status = f"refused: {exc}"
    pending = [c for c in cases if c.inputs is not None and c.expected is None]
    for case, run in zip(pending, run_many([(models[c.name], str(c.path), c.inputs) for c in pending])):
        if run.outputs:
            case.reference, case.expected = run.implementation or "Keras", run.outputs
        else:
            case.reference, case.expected = "kconvert runtime", kconvert.run(models[case.name], case.inputs,
                                                                             device="cpu")
    return cases


def correct(got: list[np.ndarray], want: list[np.ndarray], channels_first: bool = False) -> bool:
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        w = np.asarray(w)
        if channels_first and g.ndim >= 3:
            g = np.moveaxis(g, 1, -1)
        if g.size != w.size or not np.allclose(g.reshape(w.shape), w, atol=ATOL, rtol=RTOL):
            return False
    return True


def worst(got: list[np.ndarray], want: list[np.ndarray], channels_first: bool = False) -> float:
    errors = []
    for g, w in zip(got, want):
        w = np.asarray(w)
        if channels_first and g.ndim >= 3:
            g = np.moveaxis(g, 1, -1)
        errors.append(float(np.abs(g.reshape(w.shape) - w).max()) if g.size == w.size else float("inf"))
    return max(errors, default=float("inf")) if len(got) == len(want) else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--verbose", action="store_true", help="print DL4J's and kconvert's error messages")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from kconvert.verification.dl4j_runner import import_keras_many, run_dl4j_many, unavailable_reason

    reason = unavailable_reason()
    if reason:
        print(f"dl4j_import: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="kconvert-dl4j-bench-") as tmp:
        cases = prepare(args.corpus, Path(tmp))
        # DL4J's own import: channels-last arrays, then channels-first ones where that failed
        dl4j = import_keras_many([(c.path, None, c.sequential, c.inputs or []) for c in cases])
        dl4j_ok = {c.name: c.expected is not None and not run.error and correct(run.outputs, c.expected)
                   for c, run in zip(cases, dl4j)}
        dl4j_err = {c.name: worst(run.outputs, c.expected) if c.expected is not None and not run.error else None
                    for c, run in zip(cases, dl4j)}
        retry = [c for c, run in zip(cases, dl4j) if c.inputs and not dl4j_ok[c.name]
                 and any(x.ndim >= 3 for x in c.inputs)]
        moved = [[np.moveaxis(x, -1, 1) if x.ndim >= 3 else x for x in c.inputs] for c in retry]
        for c, run in zip(retry, import_keras_many([(c.path, None, c.sequential, xs) for c, xs in zip(retry, moved)])):
            if not run.error and correct(run.outputs, c.expected, channels_first=True):
                dl4j_ok[c.name] = True
                dl4j_err[c.name] = worst(run.outputs, c.expected, channels_first=True)
                dl4j[cases.index(c)].network = (dl4j[cases.index(c)].network or "") + " (NCW/NCHW input)"
        converted = [c for c in cases if c.zip_path]
        ours = dict(zip([c.name for c in converted], run_dl4j_many([(c.zip_path, c.inputs, []) for c in converted])))
    rows, totals = [], {"files": len(cases), "dl4j imported": 0, "dl4j correct": 0, "kconvert converted": 0,
                        "kconvert loads in DL4J": 0, "kconvert correct": 0}
    for c, run in zip(cases, dl4j):
        imported = run.error is None
        totals["dl4j imported"] += imported
        totals["dl4j correct"] += dl4j_ok[c.name]
        mine = ours.get(c.name)
        k_ok = bool(mine and not mine.error and c.expected is not None and correct(mine.outputs, c.expected))
        totals["kconvert converted"] += c.zip_path is not None
        totals["kconvert loads in DL4J"] += bool(mine and not mine.error)
        totals["kconvert correct"] += k_ok
        d = "correct" if dl4j_ok[c.name] else ("imported, wrong" if imported else "fails")
        if imported and not dl4j_ok[c.name] and dl4j_err[c.name] is not None:
            d += f" ({dl4j_err[c.name]:.2g})"
        if c.zip_path is None:
            k = c.kconvert_status.split(":")[0]
        elif mine.error:
            k = "DL4J fails"
        else:
            k = "correct" if k_ok else f"wrong ({worst(mine.outputs, c.expected):.2g})"
        rows.append((c.name, c.reference or "-", d, k))
        if args.verbose:
            for label, text in (("DL4J", run.error), ("kconvert", c.kconvert_status if c.zip_path is None else
                                                      mine.error)):
                if text:
                    print(f"  {c.name}: {label}: {text[:300]}")
    width = max(len(r[0]) for r in rows)
    print(f"{'file':{width}}  {'reference':18}  {'DL4J KerasModelImport':28}  kconvert -> DL4J zip")
    for name, ref, d, k in rows:
        print(f"{name:{width}}  {ref:18}  {d:28}  {k}")
    print()
    for key, value in totals.items():
        print(f"{key:24} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
