"""Which weights ``--quantize`` stores as uint8, uint16 or float16 (the encoding is in
:mod:`kconvert.formats.tfjs`)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence, Union

from kconvert.formats.tfjs import QUANTIZED_DTYPES

QuantizeSpec = Union[str, Sequence[str], Mapping[str, Union[bool, str, Sequence[str]]], None]


@dataclass(frozen=True)
class QuantizationPlan:
    """Which weights get which quantized dtype: explicit wildcard patterns, and at most one
    fallthrough dtype for every float weight no pattern names."""

    patterns: tuple[tuple[str, str], ...] = ()  # (dtype, fnmatch pattern)
    fallthrough: str | None = None

    @classmethod
    def parse(cls, spec: QuantizeSpec) -> "QuantizationPlan":
        """``"uint8"`` (everything), ``"uint8:conv*/kernel,dense/*"`` (by name), a list of such
        strings, or ``{"uint8": ["conv*"], "float16": True}``."""
        if spec is None:
            return cls()
        if isinstance(spec, str):
            spec = [spec]
        items: list[tuple[str, bool | str | Sequence[str]]] = []
        if isinstance(spec, Mapping):
            items = list(spec.items())
        else:
            for entry in spec:
                dtype, sep, names = str(entry).partition(":")
                items.append((dtype.strip(), [n.strip() for n in names.split(",")] if sep else True))
        patterns: list[tuple[str, str]] = []
        fallthrough = None
        for dtype, value in items:
            if dtype not in QUANTIZED_DTYPES:
                raise ValueError(f"unknown quantization dtype {dtype!r}; expected one of {', '.join(QUANTIZED_DTYPES)}")
            if value is True:
                if fallthrough is not None and fallthrough != dtype:
                    raise ValueError(f"both {fallthrough} and {dtype} are asked for every weight; name the weights "
                                     "of one of them (uint8:conv*/kernel)")
                fallthrough = dtype
            elif value:
                names = [value] if isinstance(value, str) else list(value)
                if not all(isinstance(n, str) and n for n in names):
                    raise ValueError(f"quantization patterns for {dtype} must be non-empty weight-name wildcards")
                patterns.extend((dtype, n) for n in names)
        return cls(tuple(patterns), fallthrough)

    def __bool__(self) -> bool:
        return bool(self.patterns) or self.fallthrough is not None

    def assign(self, names: Iterable[str], quantizable: Iterable[str]) -> dict[str, str]:
        """The quantized dtype of each of ``names`` that gets one (only ``quantizable`` float
        weights do).  A pattern that matches no weight, or a weight matched by two dtypes, is an
        error: both are typos that would otherwise silently change the output."""
        names = list(names)
        floats = set(quantizable)
        chosen: dict[str, str] = {}
        for dtype, pattern in self.patterns:
            matched = fnmatch.filter(names, pattern)
            if not matched:
                sample = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
                raise ValueError(f"the {dtype} quantization pattern {pattern!r} matches no weight (weights are "
                                 f"named like {sample})")
            for name in matched:
                if chosen.get(name, dtype) != dtype:
                    raise ValueError(f"weight {name!r} is matched by both {chosen[name]} and {dtype} patterns")
                if name in floats:
                    chosen[name] = dtype
        if self.fallthrough is not None:
            for name in names:
                if name in floats:
                    chosen.setdefault(name, self.fallthrough)
        return chosen
