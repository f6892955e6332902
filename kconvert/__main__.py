"""``python -m kconvert`` is the ``kconvert`` command."""

from kconvert.cli import entry

entry()
