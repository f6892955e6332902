"""Preprocessing layers that turn values into category indices and encode them (Discretization,
CategoryEncoding, IntegerLookup, Hashing), as Keras 3 and tf_keras compute them at inference.

Each maps its inputs to integer indices, then encodes them by ``output_mode``
(``keras.src.utils.numerical_utils.encode_categorical_inputs``): ``int`` keeps the indices;
``one_hot`` adds an axis of ``depth`` (a last axis of 1 is replaced); ``multi_hot`` and ``count``
replace the last axis by ``depth`` presence flags or counts.  Indices outside ``[0, depth)``
count nowhere.
"""

from __future__ import annotations

from typing import ClassVar

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError

#: output_mode -> what the layer outputs for each index
OUTPUT_MODES = {"int": "the index", "one_hot": "a one-hot vector", "multi_hot": "presence flags over the last axis",
                "count": "counts over the last axis"}


@layer_config
class _Encoded(LayerConfig):
    modes: ClassVar[tuple[str, ...]] = tuple(OUTPUT_MODES)
    output_mode: str = "int"

    def __post_init__(self) -> None:
        if self.output_mode not in self.modes:
            raise ValueError(f"unsupported output_mode {self.output_mode!r} (supported: {', '.join(self.modes)})")

    @property
    def depth(self) -> int:
        raise NotImplementedError

    def output_shape(self, shape: Shape) -> Shape:
        if self.output_mode == "int":
            return shape
        if len(shape) > 3 or (len(shape) == 3 and self.output_mode != "one_hot"):
            raise ShapeError(f"encodes inputs of rank 2 at most as {self.output_mode}, got rank {len(shape)}")
        if len(shape) == 1 or (self.output_mode == "one_hot" and shape[-1] == 1):
            return (shape[0], self.depth)
        if self.output_mode == "one_hot":
            return (*shape, self.depth)
        return (shape[0], self.depth)


@layer_kind
@layer_config
class CategoryEncoding(_Encoded):
    """Integer inputs (category indices below ``num_tokens``) encoded by ``output_mode``."""

    kind = "CategoryEncoding"
    modes = ("one_hot", "multi_hot", "count")
    num_tokens: int
    output_mode: str = "multi_hot"

    @property
    def depth(self) -> int:
        return self.num_tokens


@layer_kind
@layer_config
class Discretization(_Encoded):
    """The bucket of each value: the number of ``bin_boundaries`` at or below it (boundaries
    ascending; bucket ``i`` holds ``boundaries[i-1] <= x < boundaries[i]``), encoded by ``output_mode``."""

    kind = "Discretization"
    elementwise = True
    bin_boundaries: tuple[float, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if list(self.bin_boundaries) != sorted(self.bin_boundaries):
            raise ValueError("bin_boundaries must be sorted ascending")

    @property
    def depth(self) -> int:
        return len(self.bin_boundaries) + 1


@layer_kind
@layer_config
class IntegerLookup(_Encoded):
    """Integers to their index in ``vocabulary`` (or, with ``invert``, indices back to integers).

    Indices: 0 for ``mask_token`` where there is one and the output is ``int`` (other outputs leave
    the mask token out); then ``num_oov_indices`` slots for values not in the vocabulary (value mod
    ``num_oov_indices``, floored); then the vocabulary in order.
    Inverted, an index maps to its vocabulary entry, the mask slot to ``mask_token`` and any other
    index to ``oov_token``."""

    kind = "IntegerLookup"
    vocabulary: tuple[int, ...]
    num_oov_indices: int = 1
    mask_token: int | None = None
    oov_token: int = -1
    invert: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.invert and self.output_mode != "int":
            raise ValueError("an inverted lookup outputs integers only (output_mode 'int')")
        if self.num_oov_indices < 1 and not self.invert:
            raise ValueError("a lookup without out-of-vocabulary indices fails on unknown values")
        if len(set(self.vocabulary)) != len(self.vocabulary) or self.mask_token in self.vocabulary:
            raise ValueError("the vocabulary repeats a value or holds the mask token")

    @property
    def offset(self) -> int:
        """The index of the vocabulary's first entry."""
        return self.masked + self.num_oov_indices

    @property
    def masked(self) -> int:
        """1 where index 0 is the mask token's, else 0."""
        return int(self.mask_token is not None and self.output_mode == "int")

    @property
    def depth(self) -> int:
        return self.offset + len(self.vocabulary)


@layer_kind
@layer_config
class Hashing(_Encoded):
    """Each value's hash bin among ``num_bins``, encoded by ``output_mode``.

    Values are hashed as strings: integers as their decimal digits, floats first truncated to
    integers (Keras 3; tf_keras takes no floats).  Without ``salt`` the bin is FarmHash
    Fingerprint64 modulo the bins (``tf.strings.to_hash_bucket_fast``); with it, SipHash-2-4 keyed
    by the salt's two 64-bit halves (``to_hash_bucket_strong``).  With ``mask_value`` (and more than
    one bin), the mask value goes to bin 0 and the others hash into the remaining bins, shifted by 1."""

    kind = "Hashing"
    num_bins: int
    mask_value: int | float | str | None = None
    salt: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_bins < 1:
            raise ValueError(f"num_bins must be positive, got {self.num_bins}")
        if self.salt is not None and not all(0 <= s < 2**64 for s in self.salt):
            raise ValueError(f"the salt's halves must be unsigned 64-bit integers, got {self.salt}")

    @property
    def hashed_bins(self) -> int:
        """The bins values hash into (one is the mask value's)."""
        return self.num_bins - 1 if self.mask_value is not None and self.num_bins > 1 else self.num_bins

    @property
    def depth(self) -> int:
        return self.num_bins
