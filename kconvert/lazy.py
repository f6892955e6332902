"""Package attributes imported on first use (PEP 562), so that importing a package stays cheap.

The command answers ``--help`` without numpy, the IR or TensorFlow, although ``kconvert``,
``kconvert.runtime`` and ``kconvert.writers`` name things that need them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A ``__getattr__`` and ``__dir__`` for ``package`` importing ``names`` on first use:
    name -> ``"module:attribute"``, or ``"module"`` for a module itself.  The value is then kept in
    the package, so later lookups are plain attribute reads."""
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = names[name].partition(":")
        value = importlib.import_module(module)
        if attribute:
            value = getattr(value, attribute)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *names])
    return __getattr__, __dir__
