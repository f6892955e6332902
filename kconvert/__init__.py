"""kconvert: move trained Keras models between ecosystems, and prove they still compute the same.

>>> import kconvert
>>> model = kconvert.load("model.h5")            # any Keras 1/2/3 file or config string
>>> print(kconvert.summary(model))
>>> kconvert.convert("model.h5", "tfjs", "web_model/")   # model.json + weight shards
>>> kconvert.convert_many("models/", "web/", "tfjs").counts   # a folder, each model in its own process
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Sequence

from kconvert.errors import (
    IncompatibleKerasConfigurationException,
    InputReadError,
    InvalidKerasConfigurationException,
    KConvertError,
    KConvertWarning,
    NonFiniteWeightWarning,
    UnsupportedKerasConfigurationException,
    UnsupportedKerasConfigurationWarning,
)
from kconvert.lazy import lazy_attributes

if TYPE_CHECKING:
    from kconvert.batch_api import BatchResult, check_many, convert_many
    from kconvert.formats.detect import Detected, SourceLike
    from kconvert.ir import Model
    from kconvert.pretrained import imagenet
    from kconvert.readers.context import Limits
    from kconvert.readers.keras.lambdas import LambdaInfo, clear_lambdas, register_lambda, unregister_lambda
    from kconvert.summarize import summary, summary_dict
    from kconvert.writers import Written

#: names imported on first use, so that ``import kconvert`` (and the command's ``--help``) stays
#: instant: reading models needs numpy and the IR, answering ``--version`` does not
__getattr__, __dir__ = lazy_attributes(__name__, {
    "BatchResult": "kconvert.batch_api:BatchResult",
    "check_many": "kconvert.batch_api:check_many",
    "convert_many": "kconvert.batch_api:convert_many",
    "Model": "kconvert.ir:Model",
    "imagenet": "kconvert.pretrained.imagenet",  # a module: no attribute after a colon
    "Limits": "kconvert.readers.context:Limits",
    "LambdaInfo": "kconvert.readers.keras.lambdas:LambdaInfo",
    "clear_lambdas": "kconvert.readers.keras.lambdas:clear_lambdas",
    "register_lambda": "kconvert.readers.keras.lambdas:register_lambda",
    "unregister_lambda": "kconvert.readers.keras.lambdas:unregister_lambda",
    "summary": "kconvert.summarize:summary",
    "summary_dict": "kconvert.summarize:summary_dict",
})

__version__ = "0.1.0"

__all__ = [
    "BatchResult", "check_many", "convert_many", "IncompatibleKerasConfigurationException", "InputReadError", "InvalidKerasConfigurationException",
    "KConvertError", "KConvertWarning", "LambdaInfo", "imagenet", "Limits", "Model", "NonFiniteWeightWarning",
    "UnsupportedKerasConfigurationException", "UnsupportedKerasConfigurationWarning", "clear_lambdas", "convert",
    "load", "register_lambda", "run", "summary", "summary_dict", "unregister_lambda", "verify", "write",
    "__version__",
]


def load(
    source: SourceLike | Detected,
    weights: SourceLike | None = None,
    *,
    enforce_training_config: bool = False,
    weights_by: Literal["order", "name"] = "order",
    lambdas: Mapping[str, Any] | None = None,
    backend: str | None = None,
    input_shapes: Mapping[str, tuple[int | None, ...]] | None = None,
    limits: Limits | None = None,
    inputs_from: Sequence[str] | None = None,
) -> Model:
    """Read a Keras model into kconvert's IR.

    ``source`` is a path (``.h5``/``.hdf5``, ``.keras``, ``.json``, ``.yaml``, a TF.js or DL4J
    directory or file kconvert writes; the format is sniffed from the content, see
    :mod:`kconvert.formats.detect`), a ``to_json``/``to_yaml`` string, bytes, or what
    :func:`~kconvert.formats.detect.detect` made of one (nothing is read twice).  ``weights`` is a ``save_weights``
    file (legacy ``.h5`` or Keras 3 ``.weights.h5``) for a configuration-only ``source``; its layers
    are matched to the model's ``weights_by`` order (as Keras does) or by layer name.

    ``enforce_training_config`` decides what happens to training-only settings kconvert does not
    honour (unknown regularizers, optimizers, losses...): raise
    :class:`UnsupportedKerasConfigurationException`, or (default) warn, note it in
    ``model.report`` and go on.  ``lambdas`` maps Lambda layer names to replacements (see
    :func:`register_lambda`).  ``backend`` is the training backend to assume when the file does not
    record one (Keras 1); it decides whether convolution kernels are Theano kernels.
    ``input_shapes`` gives input shapes (without batch) by input layer name, for configs that
    declare none.  ``inputs_from`` cuts the model at those layers: their outputs become its inputs
    and what only fed them is dropped (:func:`kconvert.ir.cut.cut`).  Weights stay in the file until read; close the model (or use it as a context
    manager) to release the file.
    """
    from kconvert.readers import read_model
    from kconvert.readers.context import Limits, LoadOptions

    options = LoadOptions(
        enforce_training_config=enforce_training_config,
        weights_by=weights_by,
        lambdas=dict(lambdas or {}),
        backend=backend,
        input_shapes=dict(input_shapes) if input_shapes else None,
        limits=limits or Limits(),
    )
    if weights_by not in ("order", "name"):
        raise ValueError("weights_by must be 'order' or 'name'")
    model = read_model(source, weights, options)
    if inputs_from:
        from kconvert.ir.cut import cut

        try:
            return cut(model, inputs_from)
        except KConvertError as exc:
            model.close()
            where = model.provenance.source if model.provenance else None
            raise exc.with_context(file=where) if where else exc
    return model


def write(model: Model, to: str, output: str | os.PathLike[str], **options: Any) -> "Written":
    """Write a loaded ``model`` as target ``to`` (``"tfjs"``) at ``output``; see :mod:`kconvert.writers`.

    Options: ``overwrite``, ``enforce_training_config``, and the target's own (TF.js:
    ``shard_size``, ``quantize``, ``companion``: write ``kconvert-layers.js`` for the layers stock
    TF.js lacks).  Nothing is left at ``output`` when writing fails.
    """
    from kconvert.writers import write as _write

    return _write(model, to, output, **options)


def convert(source: SourceLike, to: str, output: str | os.PathLike[str], *, weights: SourceLike | None = None,
            overwrite: bool = False, enforce_training_config: bool = False,
            load_options: Mapping[str, Any] | None = None,
            on_read: Callable[[int, int], None] | None = None, **options: Any) -> "Written":
    """Load ``source`` (see :func:`load`; ``load_options`` are its other arguments) and write it as
    ``to`` at ``output`` (see :func:`write`).  The result's report lists what loading and writing
    noted, in that order.  ``on_read(done, total)`` is called as weight bytes are read (progress)."""
    from kconvert.ir.weights import watching_reads

    with load(source, weights, enforce_training_config=enforce_training_config, **dict(load_options or {})) as model:
        total, done = sum(w.nbytes for _, w in model.iter_weights()), 0

        def read(nbytes: int) -> None:
            nonlocal done
            done += nbytes
            if on_read is not None:
                on_read(done, total)
        with watching_reads(read):
            written = write(model, to, output, overwrite=overwrite, enforce_training_config=enforce_training_config,
                            **options)
        written.report.notes[:0] = model.report.notes
        return written


def run(model: Model, inputs: Any, *, device: str | None = None, dtype: str = "float32",
        activations: bool = False, limits: Limits | None = None) -> Any:
    """Run ``model`` on ``inputs`` with kconvert's TensorFlow runtime (imported only now).

    ``inputs``: an array, a list in input order, a dict by input name (the model's own dict keys,
    or input layer names), or the model's own nested structure.  ``device``: ``"cpu"``, ``"gpu"``,
    ``"gpu:N"`` or ``None`` for a GPU when there is one.  Returns one array per output, in the
    model's flat output order (Keras's: dict keys sorted), named by ``model.output_names``
    (``kconvert.ir.structure.pack(model.output_structure, outputs)`` rebuilds Keras's dict); with ``activations=True``, also a dict of every layer call's outputs.  Inputs that do not
    fit the model raise :class:`InputReadError`; a run that would make a tensor over
    ``limits.max_intermediate_bytes`` (see :class:`Limits`) raises
    :class:`IncompatibleKerasConfigurationException`, naming the layer, before anything runs.  What
    is compiled is kept on ``model`` for the next call (:mod:`kconvert.runtime.reuse`).
    """
    from kconvert.runtime.reuse import runtime_for

    runtime = runtime_for(model, device=device, dtype=dtype, limits=limits)
    outputs = runtime(inputs)
    return (outputs, runtime.activations(inputs)) if activations else outputs


def verify(source: SourceLike, weights: SourceLike | None = None, **options: Any) -> Any:
    """Compare ``source`` run in kconvert's runtime with its references; see :mod:`kconvert.verification`."""
    from kconvert.verification import verify as _verify

    return _verify(source, weights, **options)
