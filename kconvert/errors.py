"""kconvert's exceptions and warnings.

Every failure a user can cause with an input file surfaces as a subclass of :class:`KConvertError`
whose message is one line naming the file, the layer and the key involved, so that a CI log or a
terminal shows *where* to look without a traceback.  The two public families mirror
Deeplearning4j's Keras import:

* :class:`IncompatibleKerasConfigurationException` -- the model cannot be expressed (unknown layer,
  malformed config, weights that do not fit, unreadable file).  Always raised.
* :class:`UnsupportedKerasConfigurationException` -- a training-only setting kconvert does not
  honour.  Raised only with ``enforce_training_config=True``; otherwise it becomes an
  :class:`UnsupportedKerasConfigurationWarning` and a note in the load report.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kconvert.ir.report import Report

#: the most characters of a reason an error message quotes: a reason embedding a hostile value (a
#: megabyte constant, a repr of a huge list) keeps its head and tail and says how much was elided
MAX_REASON_CHARS = 600
#: the most characters of a name (file, layer, key) a message quotes
MAX_NAME_CHARS = 200


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its head and tail around a count of what was
    left out, so that a message stays readable whatever a file puts in it."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    head = limit - tail
    return f"{text[:head]}... ({len(text) - head - tail} characters elided) ...{text[-tail:]}"


def _name(value: str | None) -> str | None:
    return None if value is None else shorten(str(value), MAX_NAME_CHARS)


class KConvertError(Exception):
    """Base class of every error kconvert raises for bad or unsupported input.

    The context fields are filled in as the error travels outwards: a layer converter knows the
    key, the model reader knows the layer, the top-level loader knows the file.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        layer: str | None = None,
        layer_class: str | None = None,
        key: str | None = None,
    ) -> None:
        # one line, always, and short whatever values from the file it quotes
        self.reason = shorten(" ".join(str(reason).split()), MAX_REASON_CHARS)
        super().__init__(self.reason)
        self.file = _name(file)
        self.layer = _name(layer)
        self.layer_class = _name(layer_class)
        self.key = _name(key)

    def with_context(
        self,
        *,
        file: str | None = None,
        layer: str | None = None,
        layer_class: str | None = None,
        key: str | None = None,
    ) -> "KConvertError":
        """Fill in context that is still unknown; inner (more precise) context wins."""
        self.file = self.file or _name(file)
        if self.layer is None and layer is not None:
            self.layer, self.layer_class = _name(layer), self.layer_class or _name(layer_class)
        self.key = self.key or _name(key)
        return self

    @property
    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.layer is not None:
            parts.append(
                f"layer '{self.layer}'" + (f" ({self.layer_class})" if self.layer_class else "")
            )
        if self.key:
            parts.append(f"key '{self.key}'")
        return ": ".join(parts)

    def __str__(self) -> str:
        loc = self.location
        text = f"{loc}: {self.reason}" if loc else self.reason
        # names and values from a hostile file may carry line breaks: the message stays one line
        return text.replace("\r", "\\r").replace("\n", "\\n")

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "file": self.file,
            "layer": self.layer,
            "layer_class": self.layer_class,
            "key": self.key,
            "reason": self.reason,
            "message": str(self),
        }


class IncompatibleKerasConfigurationException(KConvertError):
    """The model cannot be represented: unknown layer, malformed config, mismatched weights."""


#: Deeplearning4j's name for the same condition, for users who come from its Keras import.
InvalidKerasConfigurationException = IncompatibleKerasConfigurationException


class InputReadError(IncompatibleKerasConfigurationException):
    """The input itself could not be read: missing, truncated, corrupt, or of an unknown format.

    A subclass of the "incompatible" family so that API users catch one type, while the CLI can
    still tell "could not read" (exit code 3) from "read, but cannot convert".
    """


class ForeignCodeError(InputReadError):
    """An input carries code for a runtime to execute that is not kconvert's own (a ``kconvert-layers.js``
    other than kconvert's companion module).  An unreadable input (exit code 3) since kconvert
    cannot use it without running it; refused before anything runs, never demoted to a failed check."""


class UnsupportedKerasConfigurationException(KConvertError):
    """A training-only setting (regularizer, constraint, optimizer, loss...) is not honoured."""


class KConvertWarning(UserWarning):
    """Base class of kconvert's warnings."""


class UnsupportedKerasConfigurationWarning(KConvertWarning):
    """An unsupported training-only setting was dropped because enforcement is off."""


class NonFiniteWeightWarning(KConvertWarning):
    """Weights read from a file hold NaN or infinite values (often a diverged training run): they
    are converted as they are, but a parity check comparing NaN with NaN proves little."""


def not_honoured(err: UnsupportedKerasConfigurationException, enforce: bool, report: "Report") -> None:
    """A training-only setting is dropped: raise ``err`` when enforcing, else warn and record it."""
    if enforce:
        raise err
    report.add("warning", "unsupported", err.reason, layer=err.layer, key=err.key)
    warnings.warn(str(err), UnsupportedKerasConfigurationWarning, stacklevel=3)
