"""Writers: the IR into target formats, each in its own package (``tfjs``, ``dl4j``, ``keras``).

:func:`write` dispatches by target name; every writer refuses what its target cannot express
before it writes anything, writes atomically, and returns a :class:`Written` with its notes.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kconvert.errors import KConvertError
from kconvert.lazy import lazy_attributes
from kconvert.writers.output import OutputError

if TYPE_CHECKING:  # the command line imports this package for its target names: keep it light
    from kconvert.ir.graph import Model
    from kconvert.writers.context import Written


def _tfjs(model: Model, output: str | os.PathLike[str], **options: Any) -> Written:
    from kconvert.writers.tfjs import write_tfjs

    return write_tfjs(model, output, **options)


def _dl4j(model: Model, output: str | os.PathLike[str], **options: Any) -> Written:
    from kconvert.writers.dl4j.writer import write_dl4j

    return write_dl4j(model, output, **options)


def _onnx(model: Model, output: str | os.PathLike[str], **options: Any) -> Written:
    from kconvert.writers.onnx.writer import write_onnx

    return write_onnx(model, output, **options)


def _keras(fmt: str) -> Callable[..., Written]:
    def write(model: Model, output: str | os.PathLike[str], **options: Any) -> Written:
        from kconvert.writers.keras.writer import write_keras

        return write_keras(model, output, format=fmt, **options)  # type: ignore[arg-type]
    return write


#: target name -> writer(model, output, **options)
WRITERS: dict[str, Callable[..., Written]] = {
    "tfjs": _tfjs, "dl4j": _dl4j, "keras": _keras("keras"), "h5": _keras("h5"), "json": _keras("json"),
    "yaml": _keras("yaml"), "onnx": _onnx,
}


LAYOUTS = ("channels_last",)
LAYOUT_IO = ("original", "channels_last")


def write(model: Model, to: str, output: str | os.PathLike[str], *, layout: str | None = None,
          layout_io: str = "original", **options: Any) -> Written:
    """Write ``model`` as target ``to`` (one of :data:`WRITERS`) at ``output``.

    ``layout="channels_last"`` first rewrites a channels_first model into an equivalent
    channels_last one (:func:`kconvert.ir.layout.to_channels_last`); ``layout_io="channels_last"``
    also makes its image inputs and outputs channels-last."""
    if to not in WRITERS:
        raise ValueError(f"unknown target {to!r}; expected one of {', '.join(sorted(WRITERS))}")
    if layout not in (None, *LAYOUTS):
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if layout_io not in LAYOUT_IO:
        raise ValueError(f"unknown layout_io {layout_io!r}; expected one of {', '.join(LAYOUT_IO)}")
    if layout is None and layout_io != "original":
        raise ValueError("layout_io goes with layout='channels_last'")
    try:
        notes = []
        from kconvert.writers import text_state  # a model that takes strings: its numeric part, and their state

        split = text_state.numeric_part(model)
        if split is not None:
            model = split[0]
        if layout is not None:
            from kconvert.ir.layout import to_channels_last

            model = to_channels_last(model, layout_io)  # type: ignore[arg-type]
            notes = model.report.notes
        written = WRITERS[to](model, output, **options)
        written.report.notes[:0] = notes
        if split is not None:
            state = text_state.state_path(Path(output))
            text_state.write_state(split[1], state)
            written.files.append(state)
            written.report.add("info", "rewritten", f"the string preprocessing ({', '.join(s['layer'] for s in split[1]['steps'])}) "
                               f"is written as its state, {state.name}; the model written takes its numbers")
        return written
    except OutputError:
        raise  # about the output, which its message names
    except KConvertError as exc:  # a refusal: name the model's file, as reading errors do
        source = model.provenance.source if model.provenance else None
        raise exc.with_context(file=source) if source else exc


__getattr__, __dir__ = lazy_attributes(__name__, {"Written": "kconvert.writers.context:Written"})

__all__ = ["LAYOUTS", "LAYOUT_IO", "WRITERS", "Written", "write"]
