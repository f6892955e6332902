"""What of a Deeplearning4j zip or configuration the JVM is given: only what inference needs, and only
classes of Deeplearning4j's own.

A model zip is an input like any other, and Deeplearning4j trusts its zips: ``ModelSerializer``'s
restore methods hand a ``preprocessor.bin`` member to Java's ``ObjectInputStream.readObject`` (Java
deserialization runs code of the attacker's choosing where a gadget is on the classpath), and the
configuration's Jackson ``@class`` properties name the classes it instantiates.  So the harness never
opens the user's file: kconvert reads it (bounded, as every input), checks that every ``@class``
names a class of Deeplearning4j or ND4J, and writes a private copy holding the configuration and
the parameters alone.  What was checked is what runs, however the file changes afterwards.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from kconvert.errors import ForeignCodeError
from kconvert.formats.dl4j import COEFFICIENTS, CONFIGURATION, NO_PARAMS
from kconvert.readers.archive import SafeZip
from kconvert.readers.context import Limits
from kconvert.readers.files import read_input
from kconvert.readers.text import parse_json

#: the members inference reads; the updater state, normalizers and Java-serialized preprocessors are left behind
MEMBERS = (CONFIGURATION, COEFFICIENTS, NO_PARAMS)
#: the packages whose classes a configuration may name (Jackson instantiates what ``@class`` names)
PACKAGES = ("org.deeplearning4j.", "org.nd4j.")
_TYPE_KEY = "@class"


def staged_zip(path: str | Path, staged: Path, limits: Limits = Limits()) -> Path:
    """``staged``: a copy of the model zip at ``path`` holding only :data:`MEMBERS`, its
    configuration checked by :func:`check_classes`."""
    display = str(path)
    with SafeZip(str(path), display, limits, "Deeplearning4j zip") as archive:
        members = {name: data for name in MEMBERS if (data := archive.read(name)) is not None}
    if CONFIGURATION in members:  # a zip without one is DL4J's to refuse, with its own message
        check_classes(members[CONFIGURATION], display, limits)
    with zipfile.ZipFile(staged, "w", zipfile.ZIP_STORED) as out:
        for name, data in members.items():
            out.writestr(name, data)
    return staged


def staged_configuration(path: str | Path, staged: Path, limits: Limits = Limits()) -> Path:
    """``staged``: a checked copy of the ``configuration.json`` at ``path``."""
    data = read_input(path, limits.max_config_bytes, "a configuration")
    check_classes(data, str(path), limits)
    staged.write_bytes(data)
    return staged


def check_classes(configuration: bytes, display: str, limits: Limits) -> None:
    """Refuse a configuration naming (in any ``@class``) a class outside :data:`PACKAGES`."""
    for where, name in _types(parse_json(configuration, display, limits), ""):
        if not (isinstance(name, str) and name.startswith(PACKAGES)):
            raise ForeignCodeError(f"{where or 'top level'}: {_TYPE_KEY} {str(name)[:200]!r} is not a class of "
                                   "Deeplearning4j or ND4J, and kconvert has Deeplearning4j instantiate no other",
                                   file=display)


def _types(value: Any, where: str) -> list[tuple[str, Any]]:
    """Every ``@class`` value in ``value`` with the path to it."""
    found: list[tuple[str, Any]] = []
    stack = [(value, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            found.extend((f"{path}/{_TYPE_KEY}", v) for k, v in node.items() if k == _TYPE_KEY)
            stack.extend((v, f"{path}/{k}") for k, v in node.items() if k != _TYPE_KEY)
        elif isinstance(node, list):
            stack.extend((v, f"{path}/{i}") for i, v in enumerate(node))
    return found
