"""Keras spellings of activations, initializers, regularizers, constraints and dtypes.

Each parser accepts the Keras 1 form (bare strings, ``{"name": ...}`` dicts with Keras 1
argument names), the Keras 2 form (``{"class_name", "config"}``) and the Keras 3 form (the same
plus ``module``/``registered_name``), and returns the IR value.  Nothing is imported by name:
unknown names are refused.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.values import (
    ACTIVATIONS,
    CONSTRAINTS,
    INITIALIZERS,
    REGULARIZERS,
    Constraint,
    Initializer,
    Regularizer,
)

Unsupported = Callable[[str], None]


def suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def class_and_config(value: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """``(class name, config)`` of a serialized object in Keras 1, 2 or 3 form."""
    if "class_name" in value:
        config = value.get("config")
        return _class_name(value["class_name"]), dict(config) if isinstance(config, dict) else {}
    rest = {k: v for k, v in value.items() if k != "name"}
    return _class_name(value.get("name")), rest  # Keras 1: {"name": "L1L2Regularizer", "l1": ...}


def _class_name(value: Any) -> str | None:
    """A class name as a string (a malformed one shown as its repr, so lookups fail cleanly)."""
    return value if value is None or isinstance(value, str) else repr(value)[:60]


# -- activations ---------------------------------------------------------------------------------

_ACTIVATION_ALIASES = {"swish": "silu", "hard_swish": "hard_silu", "linear": "linear", None: "linear"}


def activation(value: Any, generation: int) -> str:
    """Map a Keras activation spelling to an IR activation name.

    ``hard_sigmoid`` is the one name whose meaning changed: slope 0.2 up to Keras 2, relu6-based
    from Keras 3 on, so the config's Keras generation decides.
    """
    if isinstance(value, dict):
        cls, _ = class_and_config(value)
        if cls == "function" and isinstance(value.get("config"), str):  # Keras 3 function reference
            value = value["config"]
        else:
            raise IncompatibleKerasConfigurationException(
                f"activation {cls!r} given as an object is not supported; use a named activation")
    if value is not None and not isinstance(value, str):
        raise IncompatibleKerasConfigurationException(f"activation must be a name, got {value!r}")
    name = _ACTIVATION_ALIASES.get(value, value)
    if name == "hard_sigmoid" and generation >= 3:
        return "hard_sigmoid_relu6"
    if name not in ACTIVATIONS or name == "hard_sigmoid_relu6":
        raise IncompatibleKerasConfigurationException(
            f"unknown activation {value!r}{suggest(str(value), ACTIVATIONS)}; known: {', '.join(sorted(ACTIVATIONS))}")
    return name


# -- initializers --------------------------------------------------------------------------------

_INIT_ALIASES = {
    # Keras 1 function names and Keras 2/3 lowercase aliases -> (class, default config)
    "zero": ("Zeros", {}), "zeros": ("Zeros", {}),
    "one": ("Ones", {}), "ones": ("Ones", {}),
    "constant": ("Constant", {}),
    "uniform": ("RandomUniform", {"minval": -0.05, "maxval": 0.05}),
    "random_uniform": ("RandomUniform", {}),
    "normal": ("RandomNormal", {"mean": 0.0, "stddev": 0.05}),
    "random_normal": ("RandomNormal", {}),
    "truncated_normal": ("TruncatedNormal", {}),
    "variance_scaling": ("VarianceScaling", {}),
    "glorot_uniform": ("GlorotUniform", {}), "glorot_normal": ("GlorotNormal", {}),
    "he_uniform": ("HeUniform", {}), "he_normal": ("HeNormal", {}),
    "lecun_uniform": ("LecunUniform", {}), "lecun_normal": ("LecunNormal", {}),
    "orthogonal": ("Orthogonal", {}), "identity": ("Identity", {}),
}
_INIT_KEY_RENAMES = {"scale": "gain"}  # Keras 1 orthogonal/identity called it scale


def initializer(value: Any, generation: int, unsupported: Unsupported) -> Initializer | None:
    if value is None:
        return None
    if isinstance(value, str):
        cls, config = value, {}
        if value in _INIT_ALIASES:
            cls, config = _INIT_ALIASES[value]
            if value == "orthogonal" and generation == 1:
                config = {"gain": 1.1}  # Keras 1's orthogonal scaled by 1.1
    elif isinstance(value, dict):
        cls, config = class_and_config(value)
        if cls in _INIT_ALIASES:
            cls = _INIT_ALIASES[cls][0]
    else:
        unsupported(f"initializer {value!r} is not a name or a serialized initializer; dropped")
        return None
    if cls == "Initializer" or cls not in INITIALIZERS:
        unsupported(f"unknown initializer {cls!r}{suggest(str(cls), INITIALIZERS)}; dropped")
        return None
    params = {}
    for k, v in config.items():
        k = _INIT_KEY_RENAMES.get(k, k) if cls in ("Orthogonal", "Identity") else k
        if k in INITIALIZERS[cls]:
            params[k] = v
        elif v is not None and k != "dtype":
            unsupported(f"initializer {cls} argument {k}={v!r} is not known; dropped")
    if cls == "VarianceScaling" and params.get("distribution") == "normal":
        params["distribution"] = "truncated_normal"  # Keras 2's 'normal' was truncated
    return Initializer(cls, params)


# -- regularizers --------------------------------------------------------------------------------

_REG_ALIASES = {"L1L2Regularizer": "L1L2", "WeightRegularizer": "L1L2", "ActivityRegularizer": "L1L2",
                "L1": "L1L2", "L2": "L1L2", "l1": "L1L2", "l2": "L1L2", "l1_l2": "L1L2",
                "L1L2": "L1L2", "OrthogonalRegularizer": "OrthogonalRegularizer",
                "orthogonal_regularizer": "OrthogonalRegularizer"}


def regularizer(value: Any, unsupported: Unsupported) -> Regularizer | None:
    if value is None:
        return None
    if isinstance(value, str):
        cls, config = value, {"l1": 0.01} if value == "l1" else {"l2": 0.01} if value == "l2" else {}
    elif isinstance(value, dict):
        cls, config = class_and_config(value)
    else:
        unsupported(f"regularizer {value!r} is not understood; dropped")
        return None
    canonical = _REG_ALIASES.get(cls or "")
    if canonical is None:
        unsupported(f"unknown regularizer {cls!r}; dropped")
        return None
    if canonical == "L1L2":
        try:
            l1 = float(config.get("l1") or 0.0)
            l2 = float(config.get("l2") or 0.0)
        except (TypeError, ValueError):
            unsupported(f"regularizer {cls} has non-numeric factors; dropped")
            return None
        extra = {k for k, v in config.items() if v is not None} - {"l1", "l2"}
        if extra:
            unsupported(f"regularizer {cls} arguments {sorted(extra)} are not known; dropped")
        return Regularizer.l1l2(l1, l2)
    return Regularizer(canonical, {k: v for k, v in config.items() if k in REGULARIZERS[canonical]})


# -- constraints ---------------------------------------------------------------------------------

_CON_ALIASES = {"maxnorm": "MaxNorm", "max_norm": "MaxNorm", "MaxNorm": "MaxNorm",
                "nonneg": "NonNeg", "non_neg": "NonNeg", "NonNeg": "NonNeg",
                "unitnorm": "UnitNorm", "unit_norm": "UnitNorm", "UnitNorm": "UnitNorm",
                "min_max_norm": "MinMaxNorm", "MinMaxNorm": "MinMaxNorm"}
_CON_KEY_RENAMES = {"m": "max_value", "low": "min_value", "high": "max_value"}  # Keras 1


def constraint(value: Any, unsupported: Unsupported) -> Constraint | None:
    if value is None:
        return None
    if isinstance(value, str):
        cls, config = value, {}
    elif isinstance(value, dict):
        cls, config = class_and_config(value)
    else:
        unsupported(f"constraint {value!r} is not understood; dropped")
        return None
    canonical = _CON_ALIASES.get(cls or "")
    if canonical is None:
        unsupported(f"unknown constraint {cls!r}; dropped")
        return None
    params = {}
    for k, v in config.items():
        k = _CON_KEY_RENAMES.get(k, k)
        if k in CONSTRAINTS[canonical]:
            params[k] = v
        elif v is not None:
            unsupported(f"constraint {canonical} argument {k}={v!r} is not known; dropped")
    return Constraint(canonical, params)


# -- dtypes --------------------------------------------------------------------------------------

DTYPES = frozenset({"float16", "float32", "float64", "bfloat16", "mixed_float16", "mixed_bfloat16",
                    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
                    "string"})


def dtype(value: Any) -> str | None:
    """A dtype or dtype policy name; None when absent."""
    if value is None:
        return None
    if isinstance(value, dict):  # Keras 2 Policy / Keras 3 DTypePolicy objects
        _, config = class_and_config(value)
        value = config.get("name")
    if not isinstance(value, str) or value not in DTYPES:
        raise IncompatibleKerasConfigurationException(f"unknown dtype {value!r}")
    return value
