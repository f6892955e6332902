"""Inputs to verify with: read from a file, or generated deterministically from the model."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kconvert.errors import InputReadError
from kconvert.ir.graph import Model
from kconvert.ir.layers.core import Embedding, InputLayer
from kconvert.readers.files import open_input

DEFAULT_BATCH = 2
DEFAULT_UNKNOWN_DIM = 8  # size used for a dimension the model leaves open (a sequence length...)


@dataclass
class Reference:
    """Inputs, and what is known of the right answers: outputs and per-layer activations."""

    inputs: list[np.ndarray]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # by output layer name
    activations: dict[str, np.ndarray] = field(default_factory=dict)  # by layer name
    source: str = "generated"
    notes: list[str] = field(default_factory=list)


def generate_inputs(model: Model, batch: int = DEFAULT_BATCH, seed: int = 0) -> list[np.ndarray]:
    """Seeded inputs: standard normal floats, or integer ids within the vocabulary of the
    Embedding layers an integer input feeds."""
    rng = np.random.default_rng(seed)
    out = []
    for ref, shape in zip(model.inputs, generated_shapes(model, batch)):
        config = model.layer(ref.layer).config
        assert isinstance(config, InputLayer)
        vocabulary = _vocabulary(model, ref.layer)
        if vocabulary or np.dtype(config.dtype).kind in "iub":  # token ids, whatever the declared dtype
            out.append(rng.integers(0, vocabulary or 2, size=shape).astype(config.dtype))
        else:
            out.append(rng.standard_normal(shape).astype(np.float32))
    return out


def generate_strings(model: Model, batch: int = DEFAULT_BATCH, seed: int = 0) -> list[np.ndarray]:
    """Seeded strings for a model whose inputs all feed string preprocessing: terms of the
    vocabulary of the layer each input feeds, one unknown word among them, a capital and a comma
    (which standardizing removes); a TextVectorization gets sentences of up to 8 words."""
    rng = np.random.default_rng(seed)
    out = []
    for ref, shape in zip(model.inputs, generated_shapes(model, batch)):
        config = model.layer(ref.layer).config
        users = [layer.config for layer in model.layers if any(r.layer == ref.layer for c in layer.calls
                                                                 for r in c.inputs)]
        lookup = next((c for c in users if getattr(c, "takes_strings", False)), None)
        if not isinstance(config, InputLayer) or config.dtype != "string" or lookup is None:
            raise InputReadError(f"input '{ref.layer}' is not a string input read by string preprocessing: give "
                                 "--inputs for a model that mixes strings and numbers")
        special = (lookup.mask_token is not None and lookup.output_mode == "int") + lookup.num_oov_indices
        words = [*lookup.vocabulary[special:], "zzunknown"]
        if lookup.kind == "TextVectorization":
            sentences = [" ".join(rng.choice(words, size=int(rng.integers(1, 9)))) for _ in range(int(np.prod(shape)))]
            sentences[0] = sentences[0].capitalize() + ","
            out.append(np.array(sentences).reshape(shape))
        else:
            out.append(rng.choice(words, size=shape))
    return out


def generated_shapes(model: Model, batch: int = DEFAULT_BATCH) -> list[tuple[int, ...]]:
    """The shapes of the inputs :func:`generate_inputs` makes: the declared ones, ``batch`` first and
    ``DEFAULT_UNKNOWN_DIM`` for other unknown dimensions."""
    return [(batch, *(DEFAULT_UNKNOWN_DIM if d is None else d for d in shape[1:])) for shape in model.input_shapes]


def _vocabulary(model: Model, input_name: str) -> int | None:
    """The smallest vocabulary among the Embedding layers that read ``input_name`` directly."""
    sizes = [layer.config.input_dim for layer in model.layers if isinstance(layer.config, Embedding)
             and any(r.layer == input_name for c in layer.calls for r in c.inputs)]
    return min(sizes) if sizes else None


def read_reference(path: str | Path, model: Model) -> Reference:
    """Inputs (and expected outputs) from ``.npy``, ``.npz`` or a ``*_inputs_and_outputs.h5`` file.

    ``.npz``: arrays named after the model's inputs and outputs (their dict keys, or their layers), or ``x0, x1...`` and
    ``y0, y1...`` in model order.  The HDF5 convention (Deeplearning4j's end-to-end tests) holds
    ``inputs/<name>``, ``predictions/<output>`` and optionally ``activations/<layer>``; its
    ``outputs/`` group holds training labels, which are not what the model predicts.
    """
    path = Path(path)
    in_names, out_names = model.input_names, model.output_names  # dict keys where the model has them
    try:
        if path.suffix == ".npy":
            with open_input(path) as fh:
                return Reference([np.load(fh, allow_pickle=False)], source=str(path))
        if path.suffix == ".npz":
            arrays = _read_npz(path)
            inputs = [arrays.get(n, arrays.get(f"x{i}")) for i, n in enumerate(in_names)]
            if any(x is None for x in inputs):
                raise InputReadError(f"needs arrays named {in_names} or x0..x{len(in_names) - 1}", file=str(path))
            outputs = {n: arrays.get(n, arrays.get(f"y{i}")) for i, n in enumerate(out_names)}
            return Reference(inputs, {k: v for k, v in outputs.items() if v is not None}, source=str(path))
        return _read_h5_reference(path, in_names, out_names)
    except (OSError, ValueError) as exc:
        raise InputReadError(f"cannot read inputs ({exc})", file=str(path)) from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``: its members read as every archive is (bounded, stored or deflated
    only, whatever their headers say), then parsed by numpy from memory, never pickled."""
    from kconvert.readers.archive import SafeZip
    from kconvert.readers.context import Limits

    with SafeZip(str(path), str(path), Limits(), "NumPy .npz file") as archive:
        members = {name: archive.read(name) for name in archive.members}
    return {name.removesuffix(".npy"): np.load(io.BytesIO(data), allow_pickle=False)  # type: ignore[arg-type]
            for name, data in members.items()}


def _read_h5_reference(path: Path, in_names: list[str], out_names: list[str]) -> Reference:
    """Read through kconvert's safe HDF5 access: an inputs file is as untrusted as a model file."""
    from kconvert.readers.context import Limits
    from kconvert.readers.h5 import H5File

    f = H5File(str(path), str(path), Limits())
    try:
        root = f.file

        def arrays(group: str) -> dict[str, np.ndarray]:
            if not f.has(root, group):
                return {}
            node = f.get(root, group)
            return {name: f.weight(node, name).numpy() for name in f.children(node)}  # type: ignore[arg-type]
        listed = f.text_attr(root, "inputs")
        names = json.loads(listed)["inputs"] if listed else in_names
        if not f.has(root, "inputs"):
            raise InputReadError("no 'inputs' group", file=str(path))
        given = arrays("inputs")
        if not isinstance(names, list) or any(n not in given for n in names):
            raise InputReadError(f"the 'inputs' group lacks some of {names}", file=str(path), key="inputs")
        inputs = [given[n] for n in names]
        outputs, activations = arrays("predictions"), arrays("activations")
        notes = []
        if not outputs and f.has(root, "outputs"):
            notes.append("the file's 'outputs' group holds training labels, not predictions; nothing to compare")
    except (KeyError, TypeError) as exc:  # the 'inputs' attribute's JSON is not {"inputs": [...]}
        raise InputReadError(f"malformed 'inputs' attribute ({exc})", file=str(path)) from None
    finally:
        f.close()
    if len(outputs) == 1 and len(out_names) == 1 and out_names[0] not in outputs:
        outputs = {out_names[0]: next(iter(outputs.values()))}
    return Reference(inputs, outputs, activations, source=str(path), notes=notes)
