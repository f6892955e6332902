"""The architecture description a random model is built from: plain data (JSON), so that a finding
can be saved beside the files the framework made of it, rebuilt, and shrunk.

A Keras model is a list of nodes in call order; each node is a Keras layer class with its
configuration (or a ``keras.ops`` function, or a nested ``Sequential`` of unary layers) applied to
earlier tensors.  Tensors are numbered: the inputs first, then each node's outputs in order.  A
DL4J network is a list of layers (a MultiLayerConfiguration) or of vertices (a
ComputationGraphConfiguration) in DL4J's own configuration vocabulary.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Framework = Literal["keras3", "tf_keras", "dl4j"]
#: how each framework saves a model (Keras 3: archive, legacy HDF5, to_json + weights; tf_keras:
#: HDF5, to_json + weights, the to_json document as YAML; DL4J: ModelSerializer zip)
SAVE_FORMATS: dict[str, tuple[str, ...]] = {"keras3": ("keras", "h5", "json"), "tf_keras": ("h5", "json", "yaml"),
                                            "dl4j": ("zip",)}


@dataclass(frozen=True)
class Input:
    shape: tuple[int, ...]  # without the batch
    dtype: str = "float32"  # float32 | int32 (indices, below ``high``)
    high: int = 0


@dataclass(frozen=True)
class Node:
    """``op``: a Keras layer class (``layer``), a ``keras.ops`` function (``ops``), a nested
    ``Sequential`` (``nested``: ``config["layers"]`` holds its (class, config) pairs), or a DL4J
    layer or vertex (``dl4j``).  ``share``: the node whose layer object this call reuses."""

    op: str
    cls: str
    config: dict[str, Any]
    inputs: tuple[int, ...]
    outputs: int = 1
    share: int | None = None
    kind: str = ""  # the IR kind it is meant to exercise (for the coverage count)


@dataclass(frozen=True)
class ModelSpec:
    framework: Framework
    save_as: str
    inputs: tuple[Input, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[int, ...]
    sequential: bool = False  # a Keras Sequential model (one input, a chain); DL4J: a MultiLayerConfiguration
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # DL4J: preprocessors, input types

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(framework=data["framework"], save_as=data["save_as"],
                   inputs=tuple(Input(tuple(i["shape"]), i["dtype"], i["high"]) for i in data["inputs"]),
                   nodes=tuple(Node(n["op"], n["cls"], n["config"], tuple(n["inputs"]), n["outputs"], n["share"],
                                    n["kind"]) for n in data["nodes"]),
                   outputs=tuple(data["outputs"]), sequential=data["sequential"], seed=data["seed"],
                   extra=data.get("extra") or {})

    def size(self) -> tuple[int, int, int]:
        """What shrinking makes smaller: nodes, then configuration entries, then input elements."""
        entries = sum(len(json.dumps(n.config)) for n in self.nodes)
        elements = sum(_prod(i.shape) for i in self.inputs)
        return len(self.nodes), entries, elements

    def describe(self) -> str:
        """One line per node, as a finding's report shows the model."""
        lines = [f"{self.framework} ({self.save_as}{', Sequential' if self.sequential else ''}), inputs "
                 + ", ".join(f"{i.dtype}{list(i.shape)}" for i in self.inputs)]
        for n in self.nodes:
            shared = f" (shares node {n.share}'s layer)" if n.share is not None else ""
            lines.append(f"  {n.op}:{n.cls}({json.dumps(n.config, sort_keys=True)}) <- {list(n.inputs)}{shared}")
        lines.append(f"  outputs: tensors {list(self.outputs)}")
        return "\n".join(lines)


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for d in shape:
        out *= d
    return out
