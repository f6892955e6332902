"""``kconvert check``: is an exported model sound, and (with its source) does it still compute the same?

A CI step runs this on what a conversion produced.  The artifact is checked in stages, each a
named finding that the console output, the JSON report (``schemas/check-report.schema.json``) and
the JUnit XML are all rendered from:

* ``schema``: the format's own document (TF.js ``model.json``, DL4J ``configuration.json``) against
  its JSON Schema in ``schemas/``;
* ``loads``: the artifact reads back into the IR: every weight file present, sizes and dtypes as the
  manifest or configuration declares, every weight read;
* ``finite``: no NaN or infinite weights, unless the source has them too;
* ``parity`` (given the source): the artifact run by the real target runtime agrees with the source
  run by kconvert's runtime.
"""

from __future__ import annotations

import json
import math
import os
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kconvert.errors import InputReadError, KConvertError

if TYPE_CHECKING:
    from kconvert.formats.detect import Detected
    from kconvert.readers.context import Limits

Status = Literal["passed", "failed", "skipped"]


@dataclass
class Finding:
    name: str
    status: Status
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass
class CheckReport:
    artifact: str
    kind: str  # tfjs | dl4j-zip | dl4j-json | keras | onnx
    source: str | None
    findings: list[Finding] = field(default_factory=list)
    runnable: bool = False  # it loaded, with weights

    @property
    def passed(self) -> bool:
        return any(f.status == "passed" for f in self.findings) and all(f.status != "failed" for f in self.findings)

    def add(self, name: str, status: Status, detail: str) -> Finding:
        finding = Finding(name, status, detail)
        self.findings.append(finding)
        return finding

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "kind": self.kind, "source": self.source, "passed": self.passed,
                "checks": [f.to_dict() for f in self.findings]}

    def to_junit(self) -> str:
        """JUnit XML, one test case per finding, as CI systems display test results."""
        suite = ET.Element("testsuite", name=f"kconvert check {self.artifact}", tests=str(len(self.findings)),
                           failures=str(sum(f.status == "failed" for f in self.findings)), errors="0",
                           skipped=str(sum(f.status == "skipped" for f in self.findings)))
        for f in self.findings:
            case = ET.SubElement(suite, "testcase", classname=f"kconvert.check.{self.kind}", name=f.name)
            if f.status == "failed":
                ET.SubElement(case, "failure", message=f.detail).text = f.detail
            elif f.status == "skipped":
                ET.SubElement(case, "skipped", message=f.detail)
            else:
                ET.SubElement(case, "system-out").text = f.detail
        return ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode", xml_declaration=True)


def check(artifact: str | os.PathLike[str], source: str | None = None, *, weights: str | None = None,
          atol: float = 1e-4, rtol: float = 1e-4, **load_options: Any) -> CheckReport:
    """Check ``artifact`` (a TF.js directory or model.json, a DL4J zip, configuration or output
    directory, a .keras/.h5/.json/.yaml Keras file); with ``source``, also its numeric parity.

    Raises :class:`InputReadError` when ``artifact`` is not an exported model at all (missing, or
    of no kind kconvert writes), :class:`ForeignCodeError` when it carries JavaScript that is not
    kconvert's (with or without ``source``: what kconvert exports never does); a broken export is a
    report with failed findings instead."""
    from kconvert.formats.detect import detect
    from kconvert.verification.tfjs_companion import vetted_companion

    if not os.path.exists(artifact):  # (a path, never a configuration given as text)
        raise InputReadError("no such file or directory", file=str(artifact))
    detected = detect(artifact)
    if detected.format == "tfjs" and detected.path is not None:
        vetted_companion(detected.path)
    report = CheckReport(str(artifact), _KINDS.get(detected.format, "keras"), source)
    _check_schema(report, detected)
    non_finite = _check_loads(report, detected, load_options.get("limits"))
    if source is not None:
        _check_finite(report, non_finite, _source_non_finite(source, weights, load_options))
        _check_parity(report, source, weights, detected.display, atol, rtol, load_options)
    else:
        _check_finite(report, non_finite, None)
    return report


#: the report's kind of each format kconvert writes (every Keras one is "keras")
_KINDS = {"tfjs": "tfjs", "dl4j-zip": "dl4j-zip", "dl4j-json": "dl4j-json", "onnx": "onnx"}


# -- the stages ----------------------------------------------------------------------------------

def _check_schema(report: CheckReport, detected: Detected) -> None:
    from kconvert.formats.dl4j import CONFIGURATION
    from kconvert.readers.context import Limits
    from kconvert.readers.text import parse_json
    from kconvert.schemas import validate

    path = Path(detected.display)
    if report.kind == "onnx":
        from kconvert.verification.onnx_check import check_onnx_schema

        status, detail = check_onnx_schema(str(path))
        report.add("schema", status, detail)
        return
    try:
        if report.kind == "tfjs":
            document, name = detected.config(), "tfjs-layers-model"
        elif report.kind in ("dl4j-zip", "dl4j-json"):
            if report.kind == "dl4j-zip":
                from kconvert.readers.archive import SafeZip

                with SafeZip(str(path), str(path), Limits(), "Deeplearning4j zip") as archive:
                    document = parse_json(archive.read(CONFIGURATION) or b"", f"{path}:{CONFIGURATION}", Limits())
            else:
                document = detected.config()
            name = "dl4j-computationgraph" if isinstance(document, dict) and "vertices" in document \
                else "dl4j-multilayer"
        else:
            report.add("schema", "skipped", "Keras files have no JSON Schema here; reading them back checks them")
            return
        validate(document, name, str(path))
    except KConvertError as exc:
        report.add("schema", "failed", str(exc))
        return
    report.add("schema", "passed", f"{path.name} matches schemas/{name}.schema.json")


def _check_loads(report: CheckReport, detected: Detected, limits: Limits | None) -> dict[str, int] | None:
    """Read the artifact and every weight; the count of non-finite values per weight (None if it
    did not load)."""
    import kconvert

    if report.kind == "onnx":
        from kconvert.verification.onnx_check import check_onnx_loads

        return check_onnx_loads(report, detected.display)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", kconvert.KConvertWarning)  # non-finite values are counted below
            with kconvert.load(detected, limits=limits) as model:
                non_finite: dict[str, int] = {}
                count = size = 0
                for name, weight in model.iter_weights():
                    values = weight.numpy()
                    count, size = count + 1, size + values.size
                    if values.dtype.kind == "f":
                        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
                        if bad:
                            non_finite[name] = bad
    except KConvertError as exc:
        report.add("loads", "failed", str(exc))
        return None
    report.runnable = not model.lacks_weights
    report.add("loads", "passed", f"{len(model.layers)} layers and {count} weight tensors ({size} values) "
                                  "read back into kconvert's IR" + ("" if report.runnable else
                                                                     " (a configuration alone)"))
    return non_finite


def _source_non_finite(source: str, weights: str | None, load_options: dict[str, Any]) -> dict[str, int]:
    import kconvert

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kconvert.KConvertWarning)
        with kconvert.load(source, weights, **load_options) as model:
            out = {}
            for name, weight in model.iter_weights():
                values = weight.numpy()
                if values.dtype.kind == "f" and not np.isfinite(values).all():
                    out[name] = int(values.size - np.count_nonzero(np.isfinite(values)))
            return out


def _check_finite(report: CheckReport, non_finite: dict[str, int] | None, in_source: dict[str, int] | None) -> None:
    if non_finite is None:
        report.add("finite", "skipped", "the artifact did not load")
    elif not non_finite:
        report.add("finite", "passed", "no NaN or infinite weights")
    else:
        listed = ", ".join(f"{name} ({n})" for name, n in list(non_finite.items())[:5])
        total = sum(non_finite.values())
        if in_source:
            report.add("finite", "passed", f"{total} NaN/infinite values in {listed}; the source has "
                                           f"{sum(in_source.values())} too")
        else:
            report.add("finite", "failed", f"{total} NaN/infinite values in {listed}" +
                       ("; the source has none" if in_source is not None else ""))


def _check_parity(report: CheckReport, source: str, weights: str | None, target: str, atol: float, rtol: float,
                  load_options: dict[str, Any]) -> None:
    from kconvert.verification import verify

    if not report.runnable:
        loaded = any(f.name == "loads" and f.status == "passed" for f in report.findings)
        report.add("parity", "skipped", "a configuration alone has no weights to run" if loaded
                   else "the artifact did not load")
        return
    result = verify(source, weights, targets=(target,), keras="never", atol=atol, rtol=rtol, **load_options)
    for c in result.checks:
        name = "parity" if len(result.checks) == 1 else f"parity ({c.reference})"
        worst = max((x.max_abs_error for x in c.comparisons), default=0.0)
        if c.status == "passed":
            report.add(name, "passed", f"{c.reference} agrees with the source on {result.inputs} "
                                       f"(max abs error {_g(worst)}, atol {atol:g}, rtol {rtol:g})")
        elif c.status == "skipped":
            report.add(name, "skipped", c.reason or "skipped")
        else:
            off = "; ".join(f"output {x.name}: {x.mismatched} element(s) off, max abs error {_g(x.max_abs_error)}"
                            for x in c.comparisons if not x.passed)
            where = f"; first diverging layer {c.first_divergence['layer']}" if c.first_divergence else ""
            report.add(name, "failed", f"{c.reference}: {off or c.reason}{where}")


def _g(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)


def write_json(report: CheckReport, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report.to_dict(), fh, indent=2, allow_nan=False)
