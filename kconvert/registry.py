"""The one rule every per-kind registry follows (Keras converters, writers' emitters, TF.js rules,
runtime kernels): a kind gets one entry, and registering a second is a programming error caught at import."""

from __future__ import annotations

from typing import Callable, TypeVar

V = TypeVar("V")


def register_kinds(table: dict[str, V], kinds: tuple[str, ...], value: V, what: str) -> None:
    for kind in kinds:
        if kind in table:
            raise TypeError(f"{what} for {kind!r} is already registered")
        table[kind] = value


def registrar(table: dict[str, V], what: str) -> Callable[..., Callable[[V], V]]:
    """A decorator factory: ``@name(*kinds)`` registers the decorated function under each kind."""
    def decorate(*kinds: str) -> Callable[[V], V]:
        def register(fn: V) -> V:
            register_kinds(table, kinds, fn, what)
            return fn
        return register
    return decorate
