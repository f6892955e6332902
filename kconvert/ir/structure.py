"""The named structure of a model's inputs or outputs (Keras 3's dict and nested inputs/outputs).

A model keeps its inputs and outputs as flat lists of tensors (what every runtime and format
takes); beside them, a *structure* says how Keras groups them: a dict, a list, or any nesting of
the two, whose leaves are positions in the flat list.  The flat order is Keras's own
(``keras.tree.flatten``: dict keys sorted, lists in order), so ``model.inputs`` of the Keras model
and of the IR agree.  ``None`` is a plain list, which every model read before dict I/O existed has.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

Structure = Any  # None | int | list[Structure] | dict[str, Structure]
Path = tuple[str | int, ...]


class StructureError(ValueError):
    """A structure that is not a dict/list nesting of leaves (the reader names the file and key)."""


def parse(value: Any, leaf: Callable[[Any], bool], depth: int = 32) -> tuple[list[Any], Structure]:
    """Split a nested ``value`` whose leaves satisfy ``leaf`` into the flat list of leaves (Keras's
    order) and the structure of positions in it; a plain list of leaves gives structure None."""
    leaves: list[Any] = []

    def walk(v: Any, level: int) -> Structure:
        if level > depth:
            raise StructureError(f"nested more than {depth} deep")
        if leaf(v):
            leaves.append(v)
            return len(leaves) - 1
        if isinstance(v, dict):
            if not v or not all(isinstance(k, str) for k in v):
                raise StructureError("a dict of inputs or outputs needs string keys and at least one entry")
            positions = {k: walk(v[k], level + 1) for k in sorted(v)}
            return {k: positions[k] for k in v}  # the file's key order, Keras's flat order
        if isinstance(v, list) and v:
            return [walk(x, level + 1) for x in v]
        raise StructureError(f"expected a tensor reference, a list or a dict, got {_short(v)}")

    structure = walk(value, 0)
    if isinstance(structure, int):
        return leaves, None
    if isinstance(structure, list) and all(isinstance(s, int) for s in structure):
        return leaves, None
    return leaves, structure


def paths(structure: Structure) -> list[Path]:
    """The path of each flat position, in flat order (Keras's: dict keys sorted)."""
    found: dict[int, Path] = {}

    def walk(s: Structure, path: Path) -> None:
        if isinstance(s, int):
            found[s] = path
        elif isinstance(s, dict):
            for k in sorted(s):
                walk(s[k], (*path, k))
        else:
            for i, x in enumerate(s):
                walk(x, (*path, i))

    walk(structure, ())
    return [found[i] for i in sorted(found)]


def names(structure: Structure, count: int) -> list[str | None]:
    """A name per flat position: the path joined with '/' (``"y"``, ``"n/1/q"``), None when flat."""
    if structure is None:
        return [None] * count
    return ["/".join(str(p) for p in path) for path in paths(structure)]


def pack(structure: Structure, values: Sequence[Any]) -> Any:
    """The flat ``values`` in the model's own structure (a list when it has none)."""
    if structure is None:
        return list(values)

    def build(s: Structure) -> Any:
        if isinstance(s, int):
            return values[s]
        if isinstance(s, dict):
            return {k: build(v) for k, v in s.items()}
        return [build(x) for x in s]

    return build(structure)


def unpack(structure: Structure, given: Any) -> Iterator[tuple[int, Any]] | None:
    """``(position, value)`` for each leaf of ``given`` laid out like ``structure``; None when
    ``given`` does not have the structure's shape."""
    found: list[tuple[int, Any]] = []

    def walk(s: Structure, g: Any) -> bool:
        if isinstance(s, int):
            found.append((s, g))
            return True
        if isinstance(s, dict):
            return isinstance(g, dict) and set(g) == set(s) and all(walk(v, g[k]) for k, v in s.items())
        return isinstance(g, (list, tuple)) and len(g) == len(s) and all(walk(x, y) for x, y in zip(s, g))

    return iter(found) if structure is not None and walk(structure, given) else None


def remapped(structure: Structure, positions: dict[int, int]) -> Structure:
    """The structure with its positions renumbered (``positions``: old -> new); entries whose
    position is dropped go, and a container left empty goes with them."""
    def walk(s: Structure) -> Structure:
        if isinstance(s, int):
            return positions.get(s)
        if isinstance(s, dict):
            kept = {k: walk(v) for k, v in s.items()}
            return {k: v for k, v in kept.items() if v is not None} or None
        kept_list = [v for v in (walk(x) for x in s) if v is not None]
        return kept_list or None

    return None if structure is None else walk(structure)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."
