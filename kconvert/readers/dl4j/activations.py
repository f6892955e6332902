"""DL4J activation functions (``org.nd4j.linalg.activations.impl``) as the IR's activation names."""

from __future__ import annotations

from typing import Any

from kconvert.errors import KConvertError
from kconvert.formats.dl4j import ACTIVATIONS as ACTIVATION_PACKAGE
from kconvert.readers.dl4j.spec import Keys, LayerSpec, java_object

#: DL4J activation class (short) -> IR activation
_ACTIVATIONS = {"Identity": "linear", "ReLU": "relu", "ReLU6": "relu6", "SELU": "selu", "Sigmoid": "sigmoid",
                "HardSigmoid": "hard_sigmoid", "TanH": "tanh", "Softmax": "softmax", "SoftPlus": "softplus",
                "SoftSign": "softsign", "Swish": "silu", "SWISH": "silu", "Mish": "mish", "ELU": "elu",
                "HardTanH": "hard_tanh", "Cube": "cube", "RectifiedTanh": "rectified_tanh",
                "RationalTanh": "dl4j_rational_tanh"}
#: ActivationGELU's ``precise`` flag -> what it computes (not the erf GELU either way: see ACTIVATIONS)
_GELUS = {False: "gelu_sigmoid", True: "dl4j_precise_gelu"}


def activation_fn(raw: Any) -> tuple[str, dict[str, Any]]:
    """A DL4J activation's short name (ReLU, LReLU...) and its set keys."""
    name, body = java_object(raw, "an activation", ACTIVATION_PACKAGE)
    return name.removeprefix("Activation"), {k: v for k, v in body.items() if k != "@class" and v is not None}


def activation(spec: LayerSpec, key: str = "activationFn") -> str:
    """A layer's activation as the IR activation computing what DL4J computes; parameterized ones other
    than GELU (read by its ``precise`` flag) are refused."""
    raw = spec.body.get(key)
    if raw is None:  # 0.5-0.7 spelled it as a lower-case name
        legacy = spec.text("activationFunction", "identity").lower()
        raw = {next((k for k in _ACTIVATIONS if k.lower() == legacy), legacy): {}}
    try:
        name, keys = activation_fn(raw)
    except KConvertError as exc:
        raise exc.with_context(key=key) from None
    if name == "ELU":
        if Keys(keys).number("alpha", 1.0) != 1.0:
            raise spec.error("ELU with alpha other than 1: kconvert's IR has no parametric ELU activation")
        keys.pop("alpha", None)
    if name == "ReLU" and keys:
        raise spec.error(f"ReLU with {sorted(keys)}: not read yet")
    if name == "GELU":
        precise = Keys(keys).flag("precise", False)  # ActivationGELU() is precise=false
        if set(keys) - {"precise"}:
            raise spec.error(f"GELU with {sorted(set(keys) - {'precise'})}: not read yet")
        return _GELUS[precise]
    if name not in _ACTIVATIONS or keys:
        raise spec.error(f"activation {name}: kconvert's IR has no equivalent")
    return _ACTIVATIONS[name]
