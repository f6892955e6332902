"""Running an IR model on TensorFlow: an interpreter over the graph, compiled with tf.function
once a model is run a second time (its first run is eager: see :class:`CompiledOnReuse`).

The runtime does not rebuild the model through Keras: every layer kind has its own kernel
(kconvert/runtime/kernels/), so agreement with Keras is evidence, not an echo.

Speed: the forward pass folds inference BatchNormalization into the convolution before it
(kconvert/runtime/folding.py), which lets TensorFlow fuse depthwise convolutions with their bias
and activation (bench/runtime_speed.py).  XLA (``jit_compile``) is not used: on CPU, at 224x224
and batch 32, it measured slower than TensorFlow's graph executor (MobileNetV2 several times
slower, ResNet50 no faster), and Keras itself turns it on only when there is an accelerator.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException, InputReadError
from kconvert.ir.footprint import check_run
from kconvert.ir.graph import Layer, Model, TensorRef
from kconvert.ir.layers.core import InputLayer
from kconvert.ir.structure import unpack
from kconvert.ir.weights import Weight
from kconvert.readers.context import Limits
from kconvert.runtime import kernels as _kernels  # noqa: F401  (registers the kernels)
from kconvert.runtime.device import resolve_device
from kconvert.runtime.folding import Fold, batchnorm_folds
from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import KERNELS, Mask, Invocation

Values = dict[tuple[str, int], tuple[list[tf.Tensor], list[Mask]]]


class Executor:
    """Evaluates a model's graph with TensorFlow ops in a fixed compute dtype."""

    def __init__(self, dtype: tf.DType) -> None:
        self.dtype = dtype
        self._constants: dict[int, tf.Tensor] = {}
        #: the carried states of stateful recurrent layers, by layer identity
        self.states: dict[int, list[tf.Variable]] = {}

    def state_variables(self, layer: Layer, shapes: list[list[int]]) -> list[tf.Variable]:
        """The states a stateful layer carries from one call to the next (zeros at first)."""
        key = id(layer)
        if key not in self.states:
            with tf.init_scope():  # created eagerly, even when first asked for while tracing
                self.states[key] = [tf.Variable(tf.zeros(s, self.dtype), trainable=False) for s in shapes]
        return self.states[key]

    def weight(self, w: Weight) -> tf.Tensor:
        key = id(w)
        if key not in self._constants:
            array = w.numpy()
            if array.dtype.kind == "f":
                array = array.astype(self.dtype.as_numpy_dtype)
            self._constants[key] = tf.constant(array)
        return self._constants[key]

    def run_graph(self, model: Model, inputs: Sequence[tf.Tensor], masks: Sequence[Mask] | None = None,
                  values: Values | None = None, folds: Mapping[tuple[str, int], Fold] | None = None,
                  ) -> tuple[list[tf.Tensor], list[Mask]]:
        """Evaluate ``model`` on ``inputs``; fills ``values`` with every call's outputs if given.

        ``folds`` (see :mod:`kconvert.runtime.folding`) replace normalisation calls by the
        convolution calls before them, which then do not run on their own.
        """
        values = {} if values is None else values
        folds = folds or {}
        absorbed = {fold.conv for fold in folds.values()}
        given = {(r.layer, r.node): i for i, r in enumerate(model.inputs)}
        masks = list(masks) if masks is not None else [None] * len(inputs)

        def get(ref: TensorRef) -> tuple[tf.Tensor, Mask]:
            outs, out_masks = values[(ref.layer, ref.node)]
            return outs[ref.index], out_masks[ref.index]

        for layer, node in model.nodes():
            key = (layer.name, node)
            if key in given:
                values[key] = ([inputs[given[key]]], [masks[given[key]]])
                continue
            if key in absorbed:
                continue
            if key in folds:
                layer, node = folds[key].layer, folds[key].conv[1]
            call = layer.calls[node]
            pairs = [get(r) for r in call.inputs]
            tensors, in_masks = [p[0] for p in pairs], [p[1] for p in pairs]
            kwargs = dict(call.kwargs)
            if "mask" in kwargs:  # the call says which mask it receives (see Call)
                explicit = kwargs.pop("mask")
                refs = [] if explicit is None else explicit if isinstance(explicit, list) else [explicit]
                in_masks = [tf.cast(get(r)[0], tf.bool) for r in refs] + [None] * (len(in_masks) - len(refs))
            values[key] = self.apply(layer, tensors, in_masks, kwargs)
        outputs = [get(r) for r in model.outputs]
        return [o[0] for o in outputs], [o[1] for o in outputs]

    def apply(self, layer: Layer, inputs: list[tf.Tensor], masks: list[Mask],
              kwargs: dict[str, Any]) -> tuple[list[tf.Tensor], list[Mask]]:
        spec = KERNELS.get(layer.kind)
        if spec is None:
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"the runtime has no kernel for layer kind {layer.kind!r}"))
        if not spec.integer_inputs:
            inputs = [tf.cast(x, self.dtype) if x.dtype.is_integer or x.dtype.is_bool else x for x in inputs]
        with tf.name_scope(_scope(layer.name)):
            result = spec.fn(Invocation(layer, inputs, masks, kwargs, self))
        if spec.mask == "custom":
            outputs, out_masks = result  # type: ignore[misc]
        else:
            outputs = result  # type: ignore[assignment]
            if spec.mask == "all":
                present = [m for m in masks if m is not None]
                combined = None if not present else tf.reduce_all(tf.stack(
                    [tf.cast(m, tf.bool) for m in present]), axis=0)
                out_masks = [combined] * len(outputs)
            elif layer.config.passes_mask:
                out_masks = [masks[0] if masks else None] * len(outputs)
            else:
                out_masks = [None] * len(outputs)
        return list(outputs), list(out_masks)


def _numbers(name: str, x: Any) -> np.ndarray:
    """Input ``name`` as an array of numbers (booleans, integers or floats)."""
    try:
        array = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nesting and the like
        raise InputReadError(f"input '{name}' is not an array: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise InputReadError(f"input '{name}' holds values of type {array.dtype}; the model takes numbers")
    return array


def _scope(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return cleaned if cleaned[:1].isalnum() else f"l{cleaned}"


class CompiledOnReuse:
    """An entry point of a Runtime, run eagerly the first time and as a tf.function from the second.

    Tracing a large model costs far more than one eager pass over it (an Inception at 75x75: about
    7x), and most runs are one pass (``verify``, ``check``, a test); a loop over batches pays one
    trace, on its second call.  The signature leaves the batch size open, so that trace is the only
    one.  The function is a partial, not a lambda or bound method: TensorFlow tells functions apart
    for its retracing warning by their code, which every Runtime's would share, so a loop over
    models, each traced once, would read as one function retracing."""

    def __init__(self, fn: Callable[..., list[tf.Tensor]], signature: list[Any]) -> None:
        self._fn = fn
        self._signature = signature
        self._compiled: Any = None

    def __call__(self, *inputs: Any) -> list[tf.Tensor]:
        if self._compiled is None:
            self._compiled = tf.function(self._fn, input_signature=self._signature)
            return self._fn(*(tf.convert_to_tensor(x, spec.dtype) for x, spec in zip(inputs, self._signature)))
        return self._compiled(*inputs)

    @property
    def tracing_count(self) -> int:
        return 0 if self._compiled is None else self._compiled.experimental_get_tracing_count()


class Runtime:
    """A runnable form of an IR model (eager on its first run, compiled from its second).

    ``device``: ``"cpu"``, ``"gpu"``, ``"gpu:N"`` or ``None`` (a GPU when there is one).
    ``dtype``: ``"float32"`` (default) or ``"float64"`` for reference runs.
    """

    def __init__(self, model: Model, device: str | None = None, dtype: str = "float32",
                 limits: Limits | None = None) -> None:
        if dtype not in ("float32", "float64"):
            raise ValueError("dtype must be 'float32' or 'float64'")
        self.limits = limits or Limits()
        model.validate(max_rank=self.limits.max_rank)
        strings = [layer.name for layer in model.layers if getattr(layer.config, "takes_strings", False)]
        if strings:  # (ir/layers/text.py; the targets, too, take what follows them)
            raise model.layer(strings[0]).context_error(IncompatibleKerasConfigurationException(
                "takes strings, which the runtime does not run: run the numeric model after it, "
                f"kconvert.load(..., inputs_from={strings!r}) (--inputs-from {' --inputs-from '.join(strings)})"))
        if model.lacks_weights:
            raise IncompatibleKerasConfigurationException(
                f"model '{model.name}' has no weights loaded (a configuration only); the runtime needs them")
        self.model = model
        self.device = resolve_device(device)
        self.dtype = tf.as_dtype(dtype)
        self._executor = Executor(self.dtype)
        self._folds = batchnorm_folds(model)
        folded = [fold.layer for fold in self._folds.values()]
        with tf.device(self.device):  # weights become constants once, outside any tracing
            for layer in [*model.iter_layers(recursive=True), *folded]:
                for w in layer.weights.values():
                    self._executor.weight(w)
        self._input_dtypes = [self._input_dtype(model.layer(r.layer)) for r in model.inputs]
        # a stateful model keeps its fixed batch size: its carried states have that many rows
        self._signature = [tf.TensorSpec([s[0] if self.stateful else None, *s[1:]], d)
                           for s, d in zip(model.input_shapes, self._input_dtypes)]
        self._outputs = CompiledOnReuse(functools.partial(Runtime._forward, self), self._signature)
        self._all: CompiledOnReuse | None = None  # made when activations are first asked for
        self._keys: list[tuple[str, int]] = []

    @property
    def tracing_count(self) -> int:
        """How many times this Runtime has traced its graph (at most once per entry point used)."""
        return sum(f.tracing_count for f in (self._outputs, self._all) if f is not None)

    def _input_dtype(self, layer: Layer) -> tf.DType:
        declared = layer.config.dtype if isinstance(layer.config, InputLayer) else "float32"
        declared = tf.as_dtype(declared)
        return declared if declared.is_integer or declared.is_bool else self.dtype

    def _forward(self, *inputs: tf.Tensor) -> list[tf.Tensor]:
        outputs, _ = self._executor.run_graph(self.model, list(inputs), folds=self._folds)
        return outputs

    def _forward_all(self, *inputs: tf.Tensor) -> list[tf.Tensor]:
        values: Values = {}
        self._executor.run_graph(self.model, list(inputs), values=values)
        self._keys = [(k, i) for k, (outs, _) in values.items() for i in range(len(outs))]
        return [t for outs, _ in values.values() for t in outs]

    def prepare(self, inputs: Any) -> list[np.ndarray]:
        """Normalise inputs (an array, a list in input order, a dict by input name or input layer
        name, or the model's own nested structure) to arrays,
        after checking them against the model (their number, rank, known dimensions and kind of
        values; that every layer fits them) and every tensor the run would make against
        ``Limits.max_intermediate_bytes``: typed errors naming the input or the layer."""
        names = self.model.input_names
        laid_out = unpack(self.model.input_structure, inputs)
        if laid_out is not None:  # the model's own structure (Keras 3 dict or nested inputs)
            inputs = [x for _, x in sorted(laid_out, key=lambda p: p[0])]
        elif isinstance(inputs, Mapping):  # by input name (a dict key of the model's), or by layer name
            layers = [r.layer for r in self.model.inputs]
            missing = [n for n, layer in zip(names, layers) if n not in inputs and layer not in inputs]
            if missing:
                raise InputReadError(f"missing inputs {missing}; the model takes {names}")
            inputs = [inputs[n] if n in inputs else inputs[layer] for n, layer in zip(names, layers)]
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        if len(inputs) != len(names):
            raise InputReadError(f"the model takes {len(names)} input(s) {names}, got {len(inputs)}")
        given = [_numbers(name, x) for name, x in zip(names, inputs)]
        self.check([a.shape for a in given])
        return [a.astype(dtype.as_numpy_dtype, copy=False) for a, dtype in zip(given, self._input_dtypes)]

    def check(self, shapes: Sequence[Sequence[int]]) -> None:
        """Refuse inputs of these shapes when they do not fit the model or a run on them would make a
        tensor over ``Limits.max_intermediate_bytes`` (typed errors naming the input or the layer)."""
        check_run(self.model, [tuple(s) for s in shapes], self.dtype.size, self.limits.max_intermediate_bytes)

    @property
    def stateful(self) -> bool:
        return any(getattr(layer.config, "stateful", False) for layer in self.model.iter_layers(recursive=True))

    def reset_states(self) -> None:
        """Zero the carried states of stateful layers (Keras's ``model.reset_states()``)."""
        for variables in self._executor.states.values():
            for v in variables:
                v.assign(tf.zeros_like(v))

    def __call__(self, inputs: Any) -> list[np.ndarray]:
        """Run the model; returns one array per model output.

        A stateful model runs in batches of its fixed batch size, each batch starting from the
        states the previous one left, as Keras's ``predict`` does.
        """
        arrays = self.prepare(inputs)
        with tf.device(self.device):
            if not self.stateful:
                return [t.numpy() for t in self._outputs(*arrays)]
            size = self.model.input_shapes[0][0]
            if size is None or len(arrays[0]) % size:
                raise InputReadError(f"a stateful model runs in batches of its fixed batch size ({size}); "
                                 f"got {len(arrays[0])} samples")
            chunks = [[t.numpy() for t in self._outputs(*(a[i:i + size] for a in arrays))]
                      for i in range(0, len(arrays[0]), size)]
        return [np.concatenate(parts) for parts in zip(*chunks)]

    def activations(self, inputs: Any) -> dict[str, list[np.ndarray]]:
        """Every layer call's outputs, keyed ``layer`` (first call) or ``layer[node]``."""
        arrays = self.prepare(inputs)
        if self._all is None:
            self._all = CompiledOnReuse(functools.partial(Runtime._forward_all, self), self._signature)
        with tf.device(self.device):
            tensors = self._all(*arrays)
        out: dict[str, list[np.ndarray]] = {}
        for (key, _), t in zip(self._keys, tensors):
            name = key[0] if key[1] == 0 else f"{key[0]}[{key[1]}]"
            out.setdefault(name, []).append(t.numpy())
        return out
