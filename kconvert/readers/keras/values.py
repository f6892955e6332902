"""Keras spellings of activations, initializers, regularizers, constraints and dtypes.

Each parser accepts the Keras 1 form (bare strings, ``{"name": ...}`` dicts with Keras 1
argument names), the Keras 2 form (``{"class_name", "config"}``) and the Keras 3 form (the same
plus ``module``/``registered_name``), and returns the IR value.  Nothing is imported by name:
unknown names are refused.
"""

from __future__ import annotations

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
    import difflib  # here: only a misspelt name needs it (start-up)

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
#: IR activations no Keras spells by their IR name (Keras 3's hard_sigmoid; gelu(approximate=True),
#: a function argument no name carries; Deeplearning4j's own)
_NOT_KERAS_NAMES = frozenset({"hard_sigmoid_relu6", "gelu_tanh", "gelu_sigmoid", "dl4j_precise_gelu", "cube",
                              "rectified_tanh", "dl4j_rational_tanh"})


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
    known = ACTIVATIONS.keys() - _NOT_KERAS_NAMES
    if name not in known:
        raise IncompatibleKerasConfigurationException(
            f"unknown activation {value!r}{suggest(str(value), known)}; known: {', '.join(sorted(known))}")
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


def _serialized(value: Any, what: str, unsupported: Unsupported) -> tuple[str | None, dict[str, Any]] | None:
    """``(class, config)`` of a name or a serialized object; None (and reported) for anything else."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict):
        return class_and_config(value)
    unsupported(f"{what} {value!r} is not a name or a serialized {what}; dropped")
    return None


def _params(cls: str, config: dict[str, Any], allowed: tuple[str, ...], what: str, unsupported: Unsupported,
            renames: dict[str, str] | None = None) -> dict[str, Any]:
    """The arguments kconvert carries; unknown ones that are set are reported and dropped."""
    params = {}
    for key, value in config.items():
        key = (renames or {}).get(key, key)
        if key in allowed:
            params[key] = value
        elif value is not None and key != "dtype":
            unsupported(f"{what} {cls} argument {key}={value!r} is not known; dropped")
    return params


def initializer(value: Any, generation: int, unsupported: Unsupported) -> Initializer | None:
    parsed = None if value is None else _serialized(value, "initializer", unsupported)
    if parsed is None:
        return None
    cls, config = parsed
    if cls in _INIT_ALIASES:
        cls, defaults = _INIT_ALIASES[cls]
        if isinstance(value, str):  # a bare Keras 1 name carries its Keras 1 defaults
            config = {"gain": 1.1} if value == "orthogonal" and generation == 1 else dict(defaults)
    if cls == "Initializer" or cls not in INITIALIZERS:
        unsupported(f"unknown initializer {cls!r}{suggest(str(cls), INITIALIZERS)}; dropped")
        return None
    renames = _INIT_KEY_RENAMES if cls in ("Orthogonal", "Identity") else None
    params = _params(cls, config, INITIALIZERS[cls], "initializer", unsupported, renames)
    if cls == "VarianceScaling" and params.get("distribution") == "normal":
        params["distribution"] = "truncated_normal"  # Keras 2's 'normal' was truncated
    return Initializer(cls, params)


# -- regularizers --------------------------------------------------------------------------------

_REG_ALIASES = {"L1L2Regularizer": "L1L2", "WeightRegularizer": "L1L2", "ActivityRegularizer": "L1L2",
                "L1": "L1L2", "L2": "L1L2", "l1": "L1L2", "l2": "L1L2", "l1_l2": "L1L2",
                "L1L2": "L1L2", "OrthogonalRegularizer": "OrthogonalRegularizer",
                "orthogonal_regularizer": "OrthogonalRegularizer"}


def regularizer(value: Any, unsupported: Unsupported) -> Regularizer | None:
    parsed = None if value is None else _serialized(value, "regularizer", unsupported)
    if parsed is None:
        return None
    cls, config = parsed
    if cls in ("l1", "l2") and isinstance(value, str):
        config = {cls: 0.01}  # Keras's default factor for a regularizer given by name
    canonical = _REG_ALIASES.get(cls or "")
    if canonical is None:
        unsupported(f"unknown regularizer {cls!r}; dropped")
        return None
    params = _params(canonical, config, REGULARIZERS[canonical], "regularizer", unsupported)
    if canonical != "L1L2":
        return Regularizer(canonical, params)
    try:
        return Regularizer.l1l2(float(params.get("l1") or 0.0), float(params.get("l2") or 0.0))
    except (TypeError, ValueError):
        unsupported(f"regularizer {cls} has non-numeric factors; dropped")
        return None


# -- constraints ---------------------------------------------------------------------------------

_CON_ALIASES = {"maxnorm": "MaxNorm", "max_norm": "MaxNorm", "MaxNorm": "MaxNorm",
                "nonneg": "NonNeg", "non_neg": "NonNeg", "NonNeg": "NonNeg",
                "unitnorm": "UnitNorm", "unit_norm": "UnitNorm", "UnitNorm": "UnitNorm",
                "min_max_norm": "MinMaxNorm", "MinMaxNorm": "MinMaxNorm"}
_CON_KEY_RENAMES = {"m": "max_value", "low": "min_value", "high": "max_value"}  # Keras 1


def constraint(value: Any, unsupported: Unsupported) -> Constraint | None:
    parsed = None if value is None else _serialized(value, "constraint", unsupported)
    if parsed is None:
        return None
    cls, config = parsed
    canonical = _CON_ALIASES.get(cls or "")
    if canonical is None:
        unsupported(f"unknown constraint {cls!r}; dropped")
        return None
    return Constraint(canonical, _params(canonical, config, CONSTRAINTS[canonical], "constraint", unsupported,
                                         _CON_KEY_RENAMES))


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
