"""The JSON Schemas in ``schemas/`` (one per output format and report), and validation against them.

They are read from the source tree, or from ``share/kconvert/schemas`` where a regular
(non-editable) install puts them.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from kconvert.errors import KConvertError

_PLACES = (Path(__file__).resolve().parents[1] / "schemas", Path(sys.prefix) / "share" / "kconvert" / "schemas")


class SchemaError(KConvertError):
    """A document does not match its format's schema."""


@lru_cache(maxsize=None)
def schema(name: str) -> dict[str, Any]:
    """The schema ``schemas/<name>.schema.json``."""
    for place in _PLACES:
        path = place / f"{name}.schema.json"
        if path.is_file():
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
    raise FileNotFoundError(f"schema {name!r} not found in {', '.join(str(p) for p in _PLACES)}")


def validate(document: Any, name: str, file: str | None = None) -> None:
    """Raise :class:`SchemaError` naming the first place where ``document`` breaks schema ``name``.
    A schema may refer to another one by file name (``other.schema.json#/$defs/...``)."""
    import jsonschema
    from referencing import Registry, Resource

    def retrieve(uri: str) -> Resource:
        return Resource.from_contents(schema(uri.rsplit("/", 1)[-1].removesuffix(".schema.json")))

    validator = jsonschema.Draft202012Validator(schema(name), registry=Registry(retrieve=retrieve))
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise SchemaError(f"does not match the {name} schema at {where}: {error.message}", file=file)
