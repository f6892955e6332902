"""DL4J networks from their descriptions: written as DL4J's configuration JSON
(:mod:`tests.dl4j_networks`), initialised with DL4J's random parameters, run on the seeded inputs and
saved by ModelSerializer, all in one JVM (the harness's configuration job)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tests.differential.spec import ModelSpec, Node
from tests.dl4j_networks import VERTICES, activation, graph, layer, multilayer, preprocessor


def _layer(node: Node) -> dict[str, Any]:
    keys = dict(node.config)
    if isinstance(keys.get("activation"), str):
        name = keys.pop("activation")
        keys["activationFn"] = activation(name, **({"alpha": 0.3} if name in ("ELU", "LReLU") else
                                                    {"theta": 0.5} if name == "ThresholdedReLU" else {}))
    return layer(node.cls, **keys)


def configuration(spec: ModelSpec) -> dict[str, Any]:
    """The MultiLayerConfiguration, or ComputationGraphConfiguration (two copies of the body merged), of ``spec``."""
    layers = [_layer(n) for n in spec.nodes]
    if spec.sequential:
        pre = {int(i): preprocessor("CnnToFeedForwardPreProcessor", **p)
               for i, p in spec.extra.get("preprocessors", {}).items()}
        return multilayer(layers, pre)
    body, last = layers[:-1], layers[-1]
    vertices: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for branch in ("a", "b"):
        for i, spec_layer in enumerate(body):
            vertices[f"{branch}{i}"] = (spec_layer, [f"{branch}{i - 1}" if i else "in"])
    merge = spec.extra["merge"]
    vertex = {"@class": VERTICES + "MergeVertex", "mergeAxis": 1} if merge == "MergeVertex" else \
        {"@class": VERTICES + "ElementWiseVertex", "op": merge}
    vertices["merge"] = (vertex, [f"a{len(body) - 1}", f"b{len(body) - 1}"])
    vertices["out"] = (last, ["merge"])
    return graph(["in"], vertices, ["out"])


def build_dl4j(jobs: list[tuple[Path, ModelSpec]]) -> None:
    from kconvert.verification.dl4j_runner import run_configurations_many

    configs = []
    for directory, spec in jobs:
        (directory / "configuration.json").write_text(json.dumps(configuration(spec)))
        with np.load(directory / "inputs.npz") as data:
            configs.append((directory / "configuration.json", [data[f"x{i}"] for i in range(len(data.files))]))
    runs = run_configurations_many(configs, timeout=60, save=[d / "model.zip" for d, _ in jobs])
    for (directory, _), run in zip(jobs, runs):
        if run.error is not None or not (directory / "model.zip").exists():
            (directory / "build_error.txt").write_text(" ".join((run.error or "DL4J saved nothing").split())[:500])
        else:
            np.savez(directory / "outputs.npz", **{f"y{i}": y for i, y in enumerate(run.outputs)})
        (directory / "built").touch()
