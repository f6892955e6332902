"""String preprocessing: StringLookup and TextVectorization, with their whole state.

They take strings, which TF.js, Deeplearning4j and ONNX models do not: a model that starts with
them is written as the numeric model after them plus their state as JSON
(``writers/text_state.py``, ``schemas/text-preprocessing.schema.json``) that an application applies
to its strings first.  ``vocabulary`` is what Keras's ``get_vocabulary()`` gives: the mask token
(when there is one), the OOV tokens, then the terms, so a term's index is its position in it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError

OutputMode = Literal["int", "one_hot", "multi_hot", "count", "tf_idf"]
OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
#: TextVectorization's standardize and split settings Keras names (a callable is code: refused)
STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
#: the characters ``strip_punctuation`` removes (Keras's DEFAULT_STRIP_REGEX, as a character class)
STRIP_REGEX = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'


@layer_config
class _Lookup(LayerConfig):
    """What StringLookup and TextVectorization's lookup share."""

    vocabulary: tuple[str, ...]
    num_oov_indices: int = 1
    oov_token: str = "[UNK]"
    mask_token: str | None = None
    output_mode: OutputMode = "int"
    pad_to_max_tokens: bool = False
    max_tokens: int | None = None
    idf_weights: tuple[float, ...] | None = None

    takes_strings: ClassVar[bool] = True

    @property
    def output_dtype(self) -> str:
        return "int64" if self.output_mode == "int" else "float32"

    def _encoded(self, shape: Shape) -> Shape:
        """The output shape of ``output_mode`` on ``shape`` (token indices)."""
        if self.output_mode == "int":
            return shape
        depth = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else len(self.vocabulary)
        if self.output_mode == "one_hot":
            return (*shape, depth) if len(shape) == 1 or shape[-1] != 1 else (*shape[:-1], depth)
        return (shape[0], depth)


@layer_kind
@layer_config
class StringLookup(_Lookup):
    """Each string's index in ``vocabulary`` (OOV tokens at ``num_oov_indices``; ``invert`` maps
    back), encoded by ``output_mode``."""

    kind = "StringLookup"
    invert: bool = False

    @property
    def output_dtype(self) -> str:
        return "string" if self.invert else super().output_dtype

    def output_shape(self, shape: Shape) -> Shape:
        return shape if self.invert else self._encoded(shape)


@layer_kind
@layer_config
class TextVectorization(_Lookup):
    """Strings standardized (``standardize``), split into tokens (``split``), combined into
    ``ngrams``, then looked up; ``int`` output padded or truncated to ``output_sequence_length``."""

    kind = "TextVectorization"
    mask_token: str | None = ""
    standardize: str | None = "lower_and_strip_punctuation"
    split: str | None = "whitespace"
    ngrams: tuple[int, ...] | None = None
    output_sequence_length: int | None = None

    def __post_init__(self) -> None:
        if self.standardize not in (None, *STANDARDIZE):
            raise ValueError(f"standardize {self.standardize!r} is not one of {STANDARDIZE} or None")
        if self.split not in (None, *SPLIT):
            raise ValueError(f"split {self.split!r} is not one of {SPLIT} or None")

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ShapeError(f"takes one string per sample ((batch,) or (batch, 1)), got rank {len(shape)}")
        if self.output_mode == "int":
            return (shape[0], self.output_sequence_length)
        return (shape[0], self._encoded((shape[0],))[-1])
