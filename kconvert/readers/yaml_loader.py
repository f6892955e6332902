"""The YAML side of :mod:`kconvert.readers.text`: a :class:`yaml.SafeLoader` subclass for Keras's
``to_yaml`` output, in its own module so that reading JSON and HDF5 models does not import PyYAML."""

from __future__ import annotations

from typing import Any

import yaml

from kconvert.errors import InputReadError

_PY = "tag:yaml.org,2002:python/"


class KerasYamlLoader(yaml.SafeLoader):
    """Safe YAML loader plus the data-only Python tags found in Keras ``to_yaml`` output."""


def _sequence(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
    return loader.construct_sequence(node, deep=True)  # type: ignore[arg-type]


def _scalar(kind: type) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
        if kind is bool:
            return str(value).lower() in ("true", "yes", "on", "1")
        if kind is type(None):
            return None
        try:
            return kind(value)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                None, None, f"{value!r} is not a valid {node.tag.rsplit('/', 1)[-1]}", node.start_mark) from None
    return construct


def _refuse(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None,
        f"the tag !!python/{suffix} can construct arbitrary Python objects and is refused",
        node.start_mark)


KerasYamlLoader.add_constructor(_PY + "tuple", _sequence)
for _tag, _kind in (("unicode", str), ("str", str), ("long", int), ("int", int), ("float", float),
                    ("bool", bool), ("none", type(None))):
    KerasYamlLoader.add_constructor(_PY + _tag, _scalar(_kind))
KerasYamlLoader.add_multi_constructor(_PY, _refuse)


def load_yaml(text: str | bytes, where: str) -> Any:
    """The document in ``text``; malformed YAML and refused tags raise :class:`InputReadError`."""
    try:
        data = yaml.load(text, Loader=KerasYamlLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        place = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InputReadError(f"refused YAML{place}: {exc.problem}", file=where) from None
    except RecursionError:
        raise InputReadError("the YAML is nested too deeply", file=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputReadError(f"malformed YAML{place}: {problem}", file=where) from None
    return data
