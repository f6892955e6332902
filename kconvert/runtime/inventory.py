"""Which layer kinds the runtime has kernels for, read from the kernels' source, not by importing it.

``kconvert formats`` reports the runtime's coverage; importing the kernels would start TensorFlow
(seconds) just to list their names.  The registrations are literal (``@kernel("Conv1D", ...)`` or
``@kernel(*NAMES)`` over a module-level literal), so the source states them exactly; anything
else is an error here rather than a silent gap, and a test holds this list equal to the registry.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

KERNELS_DIR = Path(__file__).parent / "kernels"


@cache
def kernel_kinds() -> frozenset[str]:
    kinds: set[str] = set()
    for path in sorted(KERNELS_DIR.glob("*.py")):
        kinds |= _registered(path)
    return frozenset(kinds)


def _registered(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    literals = {target.id: node.value for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name) and node.value is not None}
    kinds: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "kernel":
                for arg in decorator.args:
                    kinds |= _strings(literals[arg.value.id] if isinstance(arg, ast.Starred)
                                      and isinstance(arg.value, ast.Name) and arg.value.id in literals else arg,
                                      path, node.lineno)
    return kinds


def _strings(node: ast.expr, path: Path, line: int) -> set[str]:
    """The kind names in a registration argument: a string, or a literal collection of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    items = node.keys if isinstance(node, ast.Dict) else node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) \
        else None
    if items is None or not all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items):
        raise ValueError(f"{path}:{line}: a kernel registered with kinds that are not literal strings")
    return {i.value for i in items}  # type: ignore[union-attr]
