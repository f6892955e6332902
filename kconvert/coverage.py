"""The coverage matrix: every IR layer kind, which Keras classes read into it, and whether the
runtime and each writer handle it -- computed from the registries, so it cannot go stale.

    python -m kconvert.coverage README.md    # rewrite the matrix embedded in the README

A writer handles a kind "yes" (an emitter or rule for it), "rewritten" (lowered into other kinds
computing the same function), "preprocessor" (DL4J: an input preprocessor), "companion" (TF.js:
only with the opt-in module kconvert-layers.js), or "no" (refused, naming the layer).  "yes" means
the kind is written; particular settings may still be refused.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Collection

TARGETS = ("tfjs", "dl4j", "keras", "onnx")
_README_BLOCK = re.compile(r"(<!-- formats:begin -->\n).*?(<!-- formats:end -->)", re.S)


@dataclass(frozen=True)
class Row:
    kind: str
    keras_classes: tuple[str, ...]  # the Keras class names read into this kind (empty: DL4J only)
    runtime: str
    tfjs: str
    dl4j: str
    keras: str
    onnx: str


def matrix() -> list[Row]:
    import kconvert.readers.keras.layers  # noqa: F401  (registers the Keras converters)
    from kconvert.ir.layer import LAYER_KINDS
    from kconvert.readers.keras.layer import KERAS_LAYERS
    from kconvert.runtime.inventory import kernel_kinds
    from kconvert.writers.dl4j import layers as dl4j_layers
    from kconvert.writers.dl4j import preprocessors
    from kconvert.writers.dl4j.writer import DL4J_TARGET, VERTEX_KINDS
    from kconvert.writers.keras import layers as keras_layers
    from kconvert.writers.keras.config import GRAPH_KINDS
    from kconvert.writers.keras.operations import OPERATIONS
    from kconvert.writers.keras.writer import KERAS3_TARGET
    from kconvert.writers.onnx.writer import EMITTERS as ONNX_EMITTERS
    from kconvert.writers.onnx.writer import ONNX_TARGET
    from kconvert.writers.tfjs import dialect
    from kconvert.writers.tfjs.writer import TFJS_TARGET

    def written(kind: str, emitters: Collection[str], rewritten: frozenset[str],
                lacks: Collection[str] = (), preprocessed: dict | None = None,
                companion: Collection[str] = ()) -> str:
        if kind in rewritten:
            return "rewritten"
        if kind in companion:
            return "companion"
        if (kind in emitters or kind == "InputLayer") and kind not in lacks:  # every format has inputs
            return "yes"
        return "preprocessor" if preprocessed is not None and kind in preprocessed else "no"

    from kconvert.readers.keras.layers.ops import operation_spellings

    operations = operation_spellings()
    kernels = kernel_kinds()
    # kinds a writer rewrites whole (a kind it also writes is rewritten for some settings only)
    dl4j_rewritten = DL4J_TARGET.rewritten_kinds() - frozenset(dl4j_layers.EMITTERS) - frozenset(VERTEX_KINDS)
    rows = []
    for kind in sorted(LAYER_KINDS):
        converter = KERAS_LAYERS.get(kind)
        aliases = tuple(name for name, fn in KERAS_LAYERS.items() if converter is not None and fn is converter)
        aliases += tuple(operations.get(kind, ()))
        rows.append(Row(
            kind, aliases, "yes" if kind in kernels or kind == "InputLayer" else "no",
            written(kind, dialect.CHECKS, TFJS_TARGET.rewritten_kinds() - frozenset(dialect.CHECKS),
                    companion=dialect.COMPANION_KINDS),
            written(kind, {*dl4j_layers.EMITTERS, *VERTEX_KINDS}, dl4j_rewritten, DL4J_TARGET.lacks,
                    preprocessors.PREPROCESSOR_RULES),
            written(kind, {*keras_layers.EMITTERS, *GRAPH_KINDS, *OPERATIONS}, KERAS3_TARGET.rewritten_kinds(),
                    KERAS3_TARGET.lacks),
            written(kind, ONNX_EMITTERS, ONNX_TARGET.rewritten_kinds() - frozenset(ONNX_EMITTERS), ONNX_TARGET.lacks)))
    return rows


def dl4j_classes() -> list[str]:
    """The Deeplearning4j layer classes the DL4J reader reads."""
    from kconvert.readers.dl4j import DL4J_LAYERS

    return sorted(DL4J_LAYERS)


def render_text(rows: list[Row]) -> str:
    header = ("kind", "runtime", "tfjs", "dl4j", "keras", "onnx", "read from Keras classes")
    table = [header] + [(r.kind, r.runtime, r.tfjs, r.dl4j, r.keras, r.onnx,
                         ", ".join(r.keras_classes) or "(DL4J only)")
                        for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths)) + "  " + line[-1] for line in table]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines + ["", _footer(rows)])


def render_markdown(rows: list[Row]) -> str:
    lines = ["| IR kind | runtime | TF.js | DL4J | Keras | ONNX | read from Keras classes |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.kind} | {r.runtime} | {r.tfjs} | {r.dl4j} | {r.keras} | {r.onnx} | "
              f"{', '.join(r.keras_classes) or '(DL4J only)'} |" for r in rows]
    return "\n".join(lines + ["", _footer(rows)])


def to_json(rows: list[Row]) -> str:
    return json.dumps({"kinds": [asdict(r) for r in rows], "other_keras_classes": other_keras_classes(rows),
                       "dl4j_classes": dl4j_classes()}, indent=2)


def other_keras_classes(rows: list[Row]) -> list[str]:
    """Keras classes read into kinds of other names (Lambda through its registered replacement,
    Keras 1 Merge, CuDNN recurrent layers...)."""
    from kconvert.readers.keras.layer import KERAS_LAYERS

    listed = {name for r in rows for name in r.keras_classes}  # operations (ops.X, TFOpLambda) included
    return sorted(name for name in KERAS_LAYERS if name not in listed)


def _footer(rows: list[Row]) -> str:
    counts = {t: sum(getattr(r, t) != "no" for r in rows) for t in ("runtime", *TARGETS)}
    return (f"{len(rows)} IR kinds; handled by the runtime {counts['runtime']}, TF.js {counts['tfjs']}, DL4J "
            f"{counts['dl4j']}, Keras {counts['keras']}, ONNX {counts['onnx']}. Also read from Keras: "
            f"{', '.join(other_keras_classes(rows))}. Read from Deeplearning4j: {', '.join(dl4j_classes())}.")


def update_readme(path: Path) -> bool:
    """Rewrite the matrix between the README's formats markers; True when it changed."""
    text = path.read_text(encoding="utf-8")
    if not _README_BLOCK.search(text):
        raise ValueError(f"{path} has no <!-- formats:begin --> ... <!-- formats:end --> block")
    updated = _README_BLOCK.sub(lambda m: m.group(1) + render_markdown(matrix()) + "\n" + m.group(2), text)
    path.write_text(updated, encoding="utf-8")
    return updated != text


if __name__ == "__main__":  # pragma: no cover
    for name in sys.argv[1:]:
        print(f"{name}: {'updated' if update_readme(Path(name)) else 'up to date'}")
