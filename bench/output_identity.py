"""Output identity: hash what kconvert writes for every fixture model, to prove a refactor changes no byte.

    PYTHONPATH=. .venv/bin/python bench/output_identity.py [--shared [DIR]] [-o MANIFEST.json]
    PYTHONPATH=. .venv/bin/python bench/output_identity.py --compare BASELINE.json [-o NOW.json]

A refactor of the rewrite and lowering machinery is meant to leave behaviour unchanged; this script
makes "unchanged" checkable.  Every model file of the project's fixtures (``tests/fixtures``, all but
``bad/``: the files ``kconvert convert DIR`` would take, and the TF.js model folders) and, with
``--shared``, of the real-world corpus (``../shared/fixtures``: its Keras files, and DL4J's zips and
configuration JSONs) is loaded with ``kconvert.load`` and written with ``kconvert.write`` to four
targets, with the command line's default options:

* ``tfjs``: 4 MiB shards, no quantization;  ``tfjs-companion``: the same with ``companion=True``;
* ``dl4j``: with ``config_only=True`` when the model holds no weights (what ``--config-only`` asks);
* ``keras``: the Keras 3 ``.keras`` archive.

For each (model, target) the manifest holds either the sha256 of every file written (a zip -- DL4J's
``model.zip``, the ``.keras`` archive -- member by member, as ``NAME:MEMBER``, since zip timestamps
may change; every other file as its bytes; only the save time in a ``.keras`` archive's
``metadata.json``, which changes from run to run, is blanked first), or the refusal: the exception's
class and message, with the fixture roots and the output folder replaced by fixed names.  Reports and warnings are not
recorded.  Models are named by their path below the repository (``tests/fixtures/...``) or the
shared folder (``shared/fixtures/...``), so a manifest does not depend on the machine.

``--compare BASELINE.json`` converts again (the shared corpus too when the baseline has it), prints
every difference (model, target, file, before, after) and a summary line, and exits 1 when anything
differs, 0 otherwise.  Run it with ``PYTHONPATH`` set to the checkout to measure: the virtual
environment's kconvert may be installed from another one.

Measured 2026-12-07 at c2b95cc (2 cores shared with other jobs): with ``--shared``, 395 models (137
project fixtures, 249 real-world Keras files, 9 DL4J zips and configurations) x 4 targets in 27-52 s,
66 MiB peak; the project's fixtures alone, 137 models in 19 s.  Three consecutive runs wrote
byte-identical manifests; before the save time was blanked, 173 ``.keras`` archives differed between
two runs in ``metadata.json`` and nowhere else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kconvert

ROOT = Path(__file__).resolve().parents[1]
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras", ".json", ".yaml", ".yml")  # kconvert.batch.MODEL_SUFFIXES
COMPANIONS = (".weights.h5",)  # never a model of its own (as in kconvert.batch)
ZIPS = (".zip", ".keras")  # hashed member by member
#: the one field written that changes from run to run: the save time in a ``.keras`` archive's
#: metadata.json (Keras writes it too); blanked before hashing, every other byte counts
SAVE_TIME = re.compile(rb'("date_saved":\s*)"[^"]*"')
CLI_TFJS = {"shard_size": 4 * 1024**2, "quantize": None}  # `kconvert --to tfjs` defaults

#: target name -> (writer, options)
TARGETS: dict[str, tuple[str, dict[str, Any]]] = {
    "tfjs": ("tfjs", CLI_TFJS),
    "tfjs-companion": ("tfjs", {**CLI_TFJS, "companion": True}),
    "dl4j": ("dl4j", {}),
    "keras": ("keras", {}),
}

Result = dict[str, Any]  # {"files": {name: sha256}} or {"refused": "Class: message"}


@dataclass(frozen=True)
class Tree:
    """A folder of fixtures: its name in the manifest, where it is, which files in it are models."""

    label: str
    path: Path
    suffixes: tuple[str, ...]
    skip: tuple[str, ...] = ()  # folder names not walked

    def models(self) -> Iterator[tuple[str, Path]]:
        """(manifest name, path) of each model below, in sorted order; a TF.js model is its folder."""
        for path in self._walk(self.path):
            yield f"{self.label}/{path.relative_to(self.path).as_posix()}", path

    def _walk(self, folder: Path) -> Iterator[Path]:
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith(".") or entry.name in self.skip:
                continue
            if entry.is_dir():
                yield from [entry] if (entry / "model.json").is_file() else self._walk(entry)
            elif entry.name.lower().endswith(self.suffixes) and not entry.name.lower().endswith(COMPANIONS):
                yield entry


def trees(shared: Path | None) -> list[Tree]:
    """The project's fixtures and, given the shared fixtures folder, the real-world ones."""
    found = [Tree("tests/fixtures", ROOT / "tests" / "fixtures", KERAS_SUFFIXES, skip=("bad",))]
    if shared is not None:
        found += [Tree("shared/fixtures/keras-realworld", shared / "keras-realworld", KERAS_SUFFIXES),
                  Tree("shared/fixtures/dl4j", shared / "dl4j", (".zip", ".json"))]
    return found


def default_shared() -> Path:
    """``$KCONVERT_SHARED/fixtures`` (as the tests read it), else ``shared/fixtures`` beside the
    checkout or beside its parent (a worktree under ``wt/``)."""
    if os.environ.get("KCONVERT_SHARED"):
        return Path(os.environ["KCONVERT_SHARED"]) / "fixtures"
    candidates = [parent / "shared" / "fixtures" for parent in ROOT.parents[:2]]
    return next((c for c in candidates if c.is_dir()), candidates[0])


# -- converting and hashing ------------------------------------------------------------------------

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def member_hash(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> str:
    data = archive.read(member)
    if member.filename == "metadata.json" and (archive.filename or "").endswith(".keras"):
        data = SAVE_TIME.sub(rb'\1""', data)
    return sha256(data)


def hashes(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` by relative name; a zip's members as ``NAME:MEMBER``."""
    found: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if path.suffix.lower() in ZIPS:
            with zipfile.ZipFile(path) as archive:
                found.update({f"{name}:{m.filename}": member_hash(archive, m) for m in archive.infolist()})
        else:
            found[name] = sha256(path.read_bytes())
    return found


def convert(source: Path, target: str, scratch: Path) -> Result:
    """Load ``source`` afresh (as one command would) and write it as ``target`` into ``scratch``."""
    writer, options = TARGETS[target]
    output = scratch / ("model.keras" if writer == "keras" else "model")
    try:
        with kconvert.load(source) as model:
            if writer == "dl4j" and model.lacks_weights:
                options = {**options, "config_only": True}
            kconvert.write(model, writer, output, **options)
    except Exception as exc:  # any exception is behaviour to keep, not only a KConvertError
        return {"refused": f"{type(exc).__name__}: {exc}"}
    return {"files": hashes(scratch)}


def machine_free(result: Result, names: dict[str, str]) -> Result:
    """A refusal's message with absolute paths (fixture roots, the output folder) replaced by names."""
    if "refused" not in result:
        return result
    message = result["refused"]
    for path, name in sorted(names.items(), key=lambda item: -len(item[0])):  # longest first
        message = message.replace(path, name)
    return {"refused": message}


def build(shared: Path | None) -> dict[str, Any]:
    """Convert every model of every tree to every target: the manifest."""
    models: dict[str, dict[str, Result]] = {}
    with tempfile.TemporaryDirectory(prefix="kconvert-identity-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scratch = Path(tmp) / "out"
        for tree in trees(shared):
            names = {str(tree.path): tree.label, str(scratch): "<output>"}
            for name, path in tree.models():
                models[name] = {}
                for target in TARGETS:
                    scratch.mkdir()
                    models[name][target] = machine_free(convert(path, target, scratch), names)
                    shutil.rmtree(scratch)
    return {"kconvert": provenance(), "targets": {t: {"writer": w, "options": o} for t, (w, o) in TARGETS.items()},
            "models": models}


def provenance() -> dict[str, Any]:
    """Which kconvert code wrote the outputs: the git tree of its package, and whether it was edited."""
    package = Path(kconvert.__file__).resolve().parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "unknown"
    return {"tree": git("rev-parse", "HEAD:kconvert"), "edited": bool(git("status", "--porcelain", "--", "."))}


# -- comparing --------------------------------------------------------------------------------------

def describe(result: Result | None) -> str:
    if result is None:
        return "(absent)"
    return f"refused: {result['refused']}" if "refused" in result else f"{len(result['files'])} file(s)"


def case_differences(before: Result | None, after: Result | None) -> list[tuple[str, str, str]]:
    """(file, before, after) for each difference of one (model, target); ``*`` for the whole case."""
    if before == after:
        return []
    if before is None or after is None or "files" not in before or "files" not in after:
        return [("*", describe(before), describe(after))]
    old, new = before["files"], after["files"]
    return [(name, old.get(name, "(absent)"), new.get(name, "(absent)"))
            for name in sorted(old.keys() | new.keys()) if old.get(name) != new.get(name)]


def compare(baseline: dict[str, Any], now: dict[str, Any]) -> int:
    """Print every difference and the summary; 1 when anything differs."""
    old, new = baseline["models"], now["models"]
    models, targets = sorted(old.keys() | new.keys()), sorted(baseline["targets"].keys() | now["targets"].keys())
    differ = 0
    for model in models:
        for target in targets:
            found = case_differences(old.get(model, {}).get(target), new.get(model, {}).get(target))
            differ += bool(found)
            for name, before, after in found:
                print(f"DIFF {model} [{target}] {name}\n  before: {before}\n  after:  {after}")
    print(f"kconvert tree {baseline['kconvert']['tree'][:12]} -> {now['kconvert']['tree'][:12]}"
          + (" (edited)" if now["kconvert"]["edited"] else ""))
    total = len(models) * len(targets)
    print(f"{len(models)} models x {len(targets)} targets: {total - differ} identical, {differ} differ")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", nargs="?", type=Path, const=default_shared(), default=None, metavar="DIR",
                        help=f"Also the real-world fixtures (default: {default_shared()}).")
    parser.add_argument("-o", "--output", type=Path, help="Write the manifest here.")
    parser.add_argument("--compare", type=Path, metavar="BASELINE", help="Exit 1 when the outputs differ from it.")
    args = parser.parse_args()
    baseline = json.loads(args.compare.read_text(encoding="utf-8")) if args.compare else None
    shared = args.shared
    if shared is None and baseline and any(m.startswith("shared/") for m in baseline["models"]):
        shared = default_shared()
    if shared is not None and not shared.is_dir():
        parser.error(f"no shared fixtures at {shared}")
    start = time.monotonic()
    manifest = build(shared)
    seconds = time.monotonic() - start
    print(f"{len(manifest['models'])} models x {len(TARGETS)} targets converted in {seconds:.1f} s", file=sys.stderr)
    if args.output:
        args.output.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return compare(baseline, manifest) if baseline else 0


if __name__ == "__main__":
    sys.exit(main())
