"""A shrunk finding saved as a fixture (``tests/fixtures/fuzz/<name>/``): the description that made
it (``spec.json``, rebuilt by ``python -m tests.differential.findings DIR``), the files the
framework saved and its outputs, and ``finding.json`` (stage, kind, detail, the original description)."""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from tests.differential.outcomes import Outcome
from tests.differential.runner import build, prepare
from tests.differential.spec import ModelSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fuzz"
#: what the framework made of a description, kept in a fixture
KEPT = ("spec.json", "inputs.npz", "outputs.npz", "model.keras", "model.h5", "model.json", "model.yaml",
        "model.weights.h5", "model.zip", "configuration.json")


def save_finding(spec: ModelSpec, original: ModelSpec, finding: Outcome, made: Path, into: Path = FIXTURES) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{finding.stage} {finding.reason} {spec.nodes[-1].cls} {spec.seed}".lower())
    target = into / slug.strip("-")
    target.mkdir(parents=True, exist_ok=True)
    for name in KEPT:
        if (made / name).exists():
            shutil.copyfile(made / name, target / name)
    (target / "finding.json").write_text(json.dumps({"finding": finding.to_dict(), "description": spec.describe(),
                                                     "original": original.to_dict()}, indent=1))
    return target


def rebuild(fixture: Path, into: Path) -> Path:
    """The fixture's description built again by its framework in ``into``."""
    spec = ModelSpec.from_dict(json.loads((fixture / "spec.json").read_text()))
    prepare(spec, into)
    build([into])
    return into


if __name__ == "__main__":
    print(rebuild(Path(sys.argv[1]), Path(tempfile.mkdtemp(prefix="kconvert-fuzz-"))))
