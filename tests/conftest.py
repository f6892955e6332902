"""Shared test plumbing: where fixtures live, and the rule for the real-world corpus.

The real-world Keras and DL4J files made by others live in ``../shared/fixtures`` beside the
checkout (never copied into the project).  Tests that need them use the ``shared_fixtures``
fixture: in a user's clone without ``../shared`` they skip with a clear message; under CI
(``CI=true``) a missing ``../shared`` is a failure, not a skip.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
GENERATED = FIXTURES / "generated"
SHARED = Path(os.environ.get("KCONVERT_SHARED", ROOT.parent / "shared"))
SHARED_FIXTURES = SHARED / "fixtures"
REALWORLD = SHARED_FIXTURES / "keras-realworld"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tfjs() -> None:
    """Skip (or fail under CI, where ./dev.sh installs it) when the TF.js harness cannot run."""
    from kconvert.verification.tfjs_runner import unavailable_reason

    reason = unavailable_reason()
    if reason:
        if in_ci():
            pytest.fail(f"{reason} -- required under CI=true", pytrace=False)
        pytest.skip(reason)


def require_dl4j() -> None:
    """Skip (or fail under CI, where ./dev.sh builds it) when the Deeplearning4j harness cannot run."""
    from kconvert.verification.dl4j_runner import unavailable_reason

    reason = unavailable_reason()
    if reason:
        if in_ci():
            pytest.fail(f"{reason} -- required under CI=true", pytrace=False)
        pytest.skip(reason)


def require_shared(path: Path = SHARED_FIXTURES) -> Path:
    """Return ``path`` if present; otherwise skip (or fail under CI)."""
    if path.exists():
        return path
    message = (f"the shared real-world fixtures are not at {path} (they live beside the checkout in "
               "../shared/fixtures; set KCONVERT_SHARED to point elsewhere)")
    if in_ci():
        pytest.fail(message + " -- required under CI=true", pytrace=False)
    pytest.skip(message)


@functools.cache
def keras_runs_channels_first() -> bool:
    """Whether this machine's TensorFlow runs a channels_first convolution on the CPU: only where
    oneDNN is enabled (some Intel CPUs; not AMD ones, nor with TF_ENABLE_ONEDNN_OPTS=0)."""
    import tensorflow as tf

    try:
        with tf.device("/CPU:0"):
            conv = tf.function(lambda x: tf.nn.conv2d(x, tf.ones([1, 1, 1, 1]), 1, "VALID", data_format="NCHW"))
            conv(tf.ones([1, 1, 2, 2]))
        return True
    except tf.errors.OpError:
        return False


def layout_keras_runs(model: Any, what: str) -> str | None:
    """The ``layout`` to write ``model`` with so that this machine's Keras can run it: None (as it
    is), or "channels_last" -- with a warning saying why -- for a channels_first model on a CPU
    whose TensorFlow cannot run channels_first convolutions."""
    from kconvert.ir.layout import data_format

    if keras_runs_channels_first() or not any(data_format(la) == "channels_first" for la in model.iter_layers()):
        return None
    warnings.warn(f"{what}: checked as its channels_last rewrite (--layout channels_last), since this CPU's "
                  "TensorFlow cannot run channels_first convolutions (no oneDNN); the rewrite is proven in "
                  "test_layout", stacklevel=2)
    return "channels_last"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def realworld() -> Path:
    return require_shared(REALWORLD)


@pytest.fixture(autouse=True)
def _quiet_kconvert_warnings():
    """kconvert's warnings are asserted through the load report; keep test output readable."""
    import kconvert

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kconvert.KConvertWarning)
        yield


@pytest.fixture(autouse=True)
def _tensorflow_log_level() -> Iterator[None]:
    """The command's --verbose shows TensorFlow's log lines by setting TF_CPP_MIN_LOG_LEVEL in its
    process; run in-process by a test, it must not leak into the tests after it."""
    before = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    yield
    if before is None:
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = before
