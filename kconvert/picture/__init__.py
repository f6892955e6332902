"""A model drawn as a picture (``kconvert inspect --graph model.svg|model.png``): each layer a box
with its name, class and output shapes, arrows along the data flow -- what Keras's ``plot_model``
draws, without Graphviz or an imaging library."""

from __future__ import annotations

import os
from pathlib import Path

from kconvert.ir.graph import Model
from kconvert.picture.layout import layout
from kconvert.picture.png import render_png
from kconvert.picture.svg import render_svg

FORMATS = (".svg", ".png")


def draw(model: Model, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Write the picture of ``model`` to ``path``, SVG or PNG by its extension (atomically)."""
    from kconvert.writers.output import atomic_files

    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"a picture is .svg or .png, not {out.name!r}")
    drawing = layout(model)
    title = f"{model.name} ({len(model.layers)} layers)"
    data = render_svg(drawing, title).encode("utf-8") if suffix == ".svg" else render_png(drawing, title)
    with atomic_files([out], overwrite) as (staged,):
        staged.write_bytes(data)
    return out
