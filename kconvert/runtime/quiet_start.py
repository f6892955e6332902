"""TensorFlow, started without its native start-up lines.

TensorFlow's C++ libraries log as they load (oneDNN, CUDA probing: ``I0000 ... port.cc:153]``,
``cudart_stub.cc ... Could not find cuda drivers``), through absl before absl's logging is
initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them.  They would bury kconvert's own
one-line messages, so the import runs with the process's stderr captured, and what was written
there is passed on without those lines.  ``TF_CPP_MIN_LOG_LEVEL=0`` (``--verbose``) shows them.
Every runtime module imports TensorFlow from here, so the first import is the quiet one.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

#: absl/glog lines (``I0000 00:00:1796396842.756326    4012 port.cc:153] ...``) and absl's notice
NATIVE_LOG = re.compile(r"([IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] |WARNING: All log messages before "
                        r"absl::InitializeLog\(\) is called)")

# a user's explicit setting (or the command's --verbose, which sets 0) wins
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextmanager
def native_log_hidden() -> Iterator[None]:
    """Capture file descriptor 2 meanwhile; pass on what is not TensorFlow's native logging."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not NATIVE_LOG.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


with native_log_hidden():
    import tensorflow as tf

__all__ = ["tf"]
