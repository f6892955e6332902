"""Readers: every supported input format into the IR.

:func:`read_model` asks the format table (:mod:`kconvert.formats.detect`) what the input is and
hands it, with what was read to decide, to that format's reader.  (Nothing is imported here at
module level: the table itself imports :mod:`kconvert.readers.context`.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kconvert.formats.detect import Detected, SourceLike
    from kconvert.ir.graph import Model
    from kconvert.readers.context import LoadOptions


def read_model(source: SourceLike | Detected, weights: SourceLike | None, options: LoadOptions) -> Model:
    """``source`` may be an input detected already (``check`` and the target runners detect first)."""
    from kconvert.formats.detect import Detected, detect

    model_input = source if isinstance(source, Detected) else detect(source, options.limits)
    weights_input = detect(weights, options.limits) if weights is not None else None
    return model_input.read(weights_input, options)
