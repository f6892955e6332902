"""The Keras config dialects kconvert writes.

* tf.keras 2 (``KERAS2``): what TF.js's tfjs-layers, tf_keras and legacy HDF5 files hold --
  ``batch_input_shape``, list-form inbound nodes, a nested model's first call numbered 1,
  ``hard_sigmoid`` meaning ``clip(0.2 x + 0.5, 0, 1)``.
* Keras 3 (``KERAS3``): what ``.keras`` archives and ``model.to_json()`` hold -- ``module`` and
  ``registered_name`` beside every serialized object, ``batch_shape``, dict-form inbound nodes of
  ``__keras_tensor__`` arguments, call arguments (``initial_state``, ``use_causal_mask``) in the
  node, and ``hard_sigmoid`` meaning ``relu6(x + 3) / 6``.

Layer emitters write the tf.keras 2 spelling; a dialect turns it into its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kconvert.ir.graph import Layer
from kconvert.ir.layer import LAYER_KINDS
from kconvert.ir.shapes import Shape
from kconvert.ir.structure import Structure, pack

#: IR activation -> its tf.keras 2 name (IR activations missing here have no tf.keras 2 spelling)
KERAS2_ACTIVATIONS = {
    "linear": "linear", "relu": "relu", "relu6": "relu6", "elu": "elu", "selu": "selu", "sigmoid": "sigmoid",
    "hard_sigmoid": "hard_sigmoid", "tanh": "tanh", "softmax": "softmax", "log_softmax": "log_softmax",
    "softplus": "softplus", "softsign": "softsign", "exponential": "exponential", "silu": "swish",
    "gelu": "gelu", "mish": "mish",
}
#: IR activation -> its Keras 3 name
KERAS3_ACTIVATIONS = {
    **{ir: name for ir, name in KERAS2_ACTIVATIONS.items() if ir != "hard_sigmoid"}, "silu": "silu",
    "hard_sigmoid_relu6": "hard_sigmoid", "hard_silu": "hard_silu", "leaky_relu": "leaky_relu",
    "log_sigmoid": "log_sigmoid", "hard_tanh": "hard_tanh", "tanh_shrink": "tanh_shrink",
}
#: Keras 3 modules of the objects kconvert writes
_MODULES = {"layer": "keras.layers", "initializer": "keras.initializers", "regularizer": "keras.regularizers",
            "constraint": "keras.constraints", "optimizer": "keras.optimizers", "loss": "keras.losses"}

Ref = list[Any]  # [layer name, node index, tensor index]


def takes_trainable(class_name: str) -> bool:
    """Whether Keras 3's constructor takes ``trainable`` (SpatialDropout's and Discretization's
    take no other keyword arguments than their own)."""
    return not class_name.startswith("SpatialDropout") and class_name != "Discretization"


class Keras2Dialect:
    name = "tf.keras 2"
    keras_version = "2.15.0"  # written beside configs in this dialect
    activations: Mapping[str, str] = KERAS2_ACTIVATIONS
    #: whether a Bidirectional without a backward_layer runs its layer with go_backwards flipped
    #: (else with go_backwards=True, whatever the layer's own value)
    flips_go_backwards = True
    #: whether functional operations (keras.ops nodes) can be written: Keras 3 only
    writes_operations = False

    def operation_layer(self, layer: Layer) -> tuple[str, dict[str, Any]] | None:
        """The class name and config of a layer of this dialect computing the functional operation
        ``layer`` (a kind Keras 3 writes as an operation node); None where the dialect has none."""
        return None

    def nested_call_offset(self, sequential: bool, output: bool) -> int:
        """What a reference to a nested model's output adds to the call's index: tf.keras 2 numbers
        a nested model's first call 1 (a model's own graph is its node 0)."""
        return 1

    def obj(self, family: str, class_name: str, config: dict[str, Any]) -> dict[str, Any]:
        """A serialized object: a layer, initializer, regularizer, constraint..."""
        return {"class_name": class_name, "config": config}

    def model(self, class_name: str, config: dict[str, Any]) -> dict[str, Any]:
        return {"class_name": class_name, "config": config}

    def dtype(self, name: str) -> Any:
        """A layer's dtype: a plain name, or a Policy object for mixed precision."""
        return {"class_name": "Policy", "config": {"name": name}} if name.startswith("mixed_") else name

    def input_config(self, batch_shape: Shape, dtype: str, sparse: bool, ragged: bool, name: str) -> dict[str, Any]:
        return {"batch_input_shape": list(batch_shape), "dtype": dtype, "sparse": sparse, "ragged": ragged,
                "name": name}

    def layer(self, class_name: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A layer's config in this dialect, and the call arguments it moves into the node."""
        if class_name == "MultiHeadAttention":  # tf.keras's from_config requires them (None: build when called)
            config.update(query_shape=None, key_shape=None, value_shape=None)
        return config, _attention_call(class_name, config)

    def node(self, kind: str, inputs: Sequence[tuple[Ref, Shape, str]], kwargs: dict[str, Any]) -> Any:
        if "_inputs" in kwargs:  # MultiHeadAttention: tf.keras passes all but the query by keyword
            names = kwargs.pop("_inputs")
            named = {name: ref for name, (ref, _, _) in zip(names[1:], inputs[1:])}
            return [[*inputs[0][0], {**named, **kwargs}]]
        return [[*ref, {}] for ref, _, _ in inputs]

    def io(self, refs: list[Ref], structure: Structure = None) -> Any:
        """A model's input or output list; tf.keras 2.4+ and Keras 3 write dict and nested ones as
        such (``ir/structure.py``)."""
        return pack(structure, refs)


class Keras3Dialect(Keras2Dialect):
    name = "Keras 3"
    keras_version = "3.15.1"
    activations = KERAS3_ACTIVATIONS
    flips_go_backwards = False
    writes_operations = True

    def nested_call_offset(self, sequential: bool, output: bool) -> int:
        # Keras 3 numbers calls from 0, but output_layers count a nested Functional's own node
        return 1 if output and not sequential else 0

    def obj(self, family: str, class_name: str, config: dict[str, Any]) -> dict[str, Any]:
        # keras.applications' helper layers: the IR kind of each is named as its Keras class
        application = LAYER_KINDS[class_name].application_module if class_name in LAYER_KINDS else None
        if family == "layer" and application is not None:
            return {"module": f"keras.src.{application}", "class_name": class_name, "config": config,
                    "registered_name": class_name}
        return {"module": _MODULES[family], "class_name": class_name, "config": config, "registered_name": None}

    def model(self, class_name: str, config: dict[str, Any]) -> dict[str, Any]:
        module = "keras" if class_name == "Sequential" else "keras.src.models.functional"
        return {"module": module, "class_name": class_name, "config": {**config, "trainable": True},
                "registered_name": None if class_name == "Sequential" else class_name}

    def dtype(self, name: str) -> Any:
        return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}

    def input_config(self, batch_shape: Shape, dtype: str, sparse: bool, ragged: bool, name: str) -> dict[str, Any]:
        return {"batch_shape": list(batch_shape), "dtype": dtype, "sparse": sparse, "ragged": ragged, "name": name}

    def layer(self, class_name: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        call: dict[str, Any] = _attention_call(class_name, config)
        if class_name == "LeakyReLU":
            config["negative_slope"] = config.pop("alpha")
        elif not takes_trainable(class_name):
            del config["trainable"]
        if class_name == "Discretization" and "int" in str(config.get("dtype")):
            config["dtype"] = self.dtype("float32")  # tf_keras's is the output's; Keras 3 casts inputs to it
        elif class_name == "Attention" and config.pop("causal", False):
            call["use_causal_mask"] = True
        return config, call

    def node(self, kind: str, inputs: Sequence[tuple[Ref, Shape, str]], kwargs: dict[str, Any]) -> Any:
        tensors = [{"class_name": "__keras_tensor__",
                    "config": {"shape": list(shape), "dtype": dtype, "keras_history": ref}}
                   for ref, shape, dtype in inputs]
        if "_inputs" in kwargs:  # MultiHeadAttention(query, value, key=..., attention_mask=...)
            names = kwargs.pop("_inputs")
            return {"args": tensors[:2], "kwargs": {**dict(zip(names[2:], tensors[2:])), **kwargs}}
        if (LAYER_KINDS[kind].recurrent or kind == "Bidirectional") and len(tensors) > 1:  # RNN(x, initial_state=[...])
            return {"args": [tensors[0]], "kwargs": {**kwargs, "initial_state": tensors[1:]}}
        return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kwargs}

    def io(self, refs: list[Ref], structure: Structure = None) -> Any:
        return refs[0] if len(refs) == 1 and structure is None else pack(structure, refs)


def _attention_call(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """MultiHeadAttention's call arguments, which its emitter leaves in the config: the names of
    its inputs and ``use_causal_mask``."""
    if class_name != "MultiHeadAttention":
        return {}
    call = {"_inputs": config.pop("_inputs")}
    if config.pop("use_causal_mask", False):
        call["use_causal_mask"] = True
    return call


KERAS2 = Keras2Dialect()
KERAS3 = Keras3Dialect()
