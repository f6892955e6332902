"""Static shapes and the arithmetic every layer kind shares to infer them.

A shape is a tuple that *includes* the batch dimension at index 0; ``None`` marks a dimension that
is unknown until run time (always the batch, sometimes a sequence length or image size).
"""

from __future__ import annotations

from typing import Optional, Sequence

Dim = Optional[int]
Shape = tuple[Dim, ...]


class ShapeError(ValueError):
    """A layer cannot be applied to the shapes it receives (raised by shape inference)."""


def shape_str(shape: Sequence[Dim]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def known(*dims: Dim) -> bool:
    return all(d is not None for d in dims)


def product(dims: Sequence[Dim]) -> Dim:
    """Product of dimensions, ``None`` if any is unknown."""
    out = 1
    for d in dims:
        if d is None:
            return None
        out *= d
    return out


def require_rank(shape: Shape, *ranks: int, what: str = "input") -> None:
    if len(shape) not in ranks:
        expected = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"expects a rank-{expected} {what} (batch included), got {shape_str(shape)}")


def norm_axis(axis: int, rank: int) -> int:
    """Normalise a possibly negative axis against a rank (batch included)."""
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def conv_output_length(length: Dim, kernel: int, padding: str, stride: int, dilation: int = 1) -> Dim:
    """Output length of a convolution or pooling window along one axis (Keras semantics)."""
    if length is None:
        return None
    span = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        out = length
    elif padding == "valid":
        out = length - span + 1
    elif padding == "full":
        out = length + span - 1
    else:
        raise ShapeError(f"unknown padding {padding!r}")
    out = (out + stride - 1) // stride
    if out <= 0:
        raise ShapeError(
            f"a window of {span} with padding {padding!r} does not fit an input of length {length}"
        )
    return out


def deconv_output_length(
    length: Dim,
    kernel: int,
    padding: str,
    stride: int,
    output_padding: int | None = None,
    dilation: int = 1,
) -> Dim:
    """Output length of a transposed convolution along one axis (Keras semantics)."""
    if length is None:
        return None
    kernel = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(kernel - stride, 0)
        if padding == "full":
            return length * stride - (stride + kernel - 2)
        if padding == "same":
            return length * stride
        raise ShapeError(f"unknown padding {padding!r}")
    pad = {"same": kernel // 2, "valid": 0, "full": kernel - 1}.get(padding)
    if pad is None:
        raise ShapeError(f"unknown padding {padding!r}")
    return (length - 1) * stride + kernel - 2 * pad + output_padding


def split_channels(shape: Shape, data_format: str) -> tuple[Dim, tuple[Dim, ...]]:
    """Return (channels, spatial dims) of a batched image/sequence/volume shape."""
    if data_format == "channels_last":
        return shape[-1], tuple(shape[1:-1])
    return shape[1], tuple(shape[2:])


def join_channels(batch: Dim, channels: Dim, spatial: Sequence[Dim], data_format: str) -> Shape:
    if data_format == "channels_last":
        return (batch, *spatial, channels)
    return (batch, channels, *spatial)


def broadcast(shapes: Sequence[Shape]) -> Shape:
    """Numpy-style broadcast of several shapes, as Keras merge layers do."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out: list[Dim] = []
    for dims in zip(*padded):
        concrete = {d for d in dims if d is not None and d != 1}
        if len(concrete) > 1:
            raise ShapeError("cannot broadcast shapes " + ", ".join(shape_str(s) for s in shapes))
        if concrete:
            out.append(concrete.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)
