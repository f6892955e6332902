"""``python -m kconvert`` is the ``kconvert`` command."""

from kconvert.cli import main

main(prog_name="kconvert")
