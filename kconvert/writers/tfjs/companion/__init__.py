"""The opt-in companion module ``kconvert-layers.js``: layer classes stock TF.js lacks.

Stock ``@tensorflow/tfjs`` 4.x has no exact form of some Keras layers (GRU with
``reset_after=True``, MultiHeadAttention, LocallyConnected1D/2D, EinsumDense, GroupNormalization,
UnitNormalization, Discretization, IntegerLookup, CategoryEncoding as Keras counts indices out of
range) nor of the functional operations no stock layer computes (``KConvert<kind>`` classes:
:mod:`kconvert.writers.tfjs.operations`).  With ``companion=True`` the
TF.js writer keeps them and writes this module beside ``model.json``; a page loads it after
``tf.min.js`` (it registers the classes with ``tf.serialization.registerClass`` itself), Node calls
``require("./kconvert-layers.js").register(tf)``.  The module is the same for every model (one
file, deterministic); it is written only when the model uses one of its classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kconvert.formats.tfjs import COMPANION_FILE

#: the module as kconvert ships it (the runtimes kconvert starts load this file, never a model's copy)
PACKAGED = Path(__file__).with_name(COMPANION_FILE)

#: how a user loads the module, for notes, the command's output and the README
LOAD_HINT = (f'load {COMPANION_FILE} before tf.loadLayersModel: <script src="{COMPANION_FILE}"></script> after '
             f'tf.min.js, or require("./{COMPANION_FILE}").register(tf) in Node')
#: the refusal's advice when a model needs the module and it was not asked for
ASK_HINT = "write the companion module with --tfjs-companion (Python: companion=True)"


@dataclass
class Companion:
    """Whether the module may be used in one write, and which of its classes the model uses
    (what -> the first layer that needs it, in the order met)."""

    enabled: bool = False
    uses: dict[str, str] = field(default_factory=dict)

    def use(self, what: str, layer: str) -> None:
        self.uses.setdefault(what, layer)

    @property
    def needed(self) -> bool:
        return bool(self.uses)


def source() -> bytes:
    """The module's bytes: what the writer writes beside a model, and the only companion a runtime
    that kconvert starts ever loads (``kconvert.verification.tfjs_companion``)."""
    return PACKAGED.read_bytes()
