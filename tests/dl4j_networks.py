"""Deeplearning4j networks written as DL4J's own configuration JSON (MultiLayerConfiguration and
ComputationGraphConfiguration, Jackson ``@class`` names as DL4J 1.0.0-M2.1 writes them), for the real
DL4J to initialise, run and save (:func:`dl4j_made`): models made by DL4J itself, not by kconvert."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

LAYERS = "org.deeplearning4j.nn.conf.layers."
VERTICES = "org.deeplearning4j.nn.conf.graph."
PREPROCESSORS = "org.deeplearning4j.nn.conf.preprocessor."
ACTIVATIONS = "org.nd4j.linalg.activations.impl.Activation"
#: what each NeuralNetConfiguration states (DL4J's builder defaults)
NETWORK = {"optimizationAlgo": "STOCHASTIC_GRADIENT_DESCENT", "miniBatch": True, "minimize": True,
           "maxNumLineSearchIterations": 5, "cacheMode": "NONE", "dataType": "FLOAT"}


def activation(name: str, **keys: Any) -> dict[str, Any]:
    return {"@class": ACTIVATIONS + name, **keys}


def layer(cls: str, **keys: Any) -> dict[str, Any]:
    """A layer of class ``cls`` (relative to DL4J's layers package unless dotted from the root)."""
    body: dict[str, Any] = {"@class": cls if cls.startswith("org.") else LAYERS + cls}
    if "activationFn" not in keys and "activation" not in keys:
        body["activationFn"] = activation("Identity")
    if isinstance(keys.get("activation"), str):
        keys["activationFn"] = activation(keys.pop("activation"))
    # without an updater, regularization or weight initialisation DL4J reads the layer as pre-1.0 JSON
    body.update({"weightInitFn": {"@class": "org.deeplearning4j.nn.weights.WeightInitXavier"},
                 "iupdater": {"@class": "org.nd4j.linalg.learning.config.Sgd", "learningRate": 0.1},
                 "regularization": [], "regularizationBias": [], **keys})
    return body


def preprocessor(cls: str, **keys: Any) -> dict[str, Any]:
    return {"@class": cls if cls.startswith("org.") else PREPROCESSORS + cls, **keys}


def multilayer(layers: list[dict[str, Any]], preprocessors: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A MultiLayerConfiguration of ``layers`` (each its own seed, so DL4J's initialisation varies)."""
    return {"backpropType": "Standard", "dataType": "FLOAT",
            "inputPreProcessors": {str(i): p for i, p in (preprocessors or {}).items()},
            "confs": [{"layer": {"layerName": f"layer{i}", **spec}, "seed": 100 + i, "variables": [],
                       **NETWORK}
                      for i, spec in enumerate(layers)]}


def graph(inputs: list[str], vertices: dict[str, tuple[dict[str, Any], list[str]]], outputs: list[str],
          input_types: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A ComputationGraphConfiguration: ``vertices`` maps a name to (a vertex, or a layer, and its inputs)."""
    built = {}
    for name, (spec, _) in vertices.items():
        if spec["@class"].startswith(LAYERS):
            spec = {"@class": VERTICES + "LayerVertex",
                    "layerConf": {"layer": {"layerName": name, **spec}, "seed": 7, "variables": [],
                                  **NETWORK}}
        built[name] = spec
    document = {"backpropType": "Standard", "dataType": "FLOAT", "networkInputs": inputs, "networkOutputs": outputs,
                "vertices": built, "vertexInputs": {name: ins for name, (_, ins) in vertices.items()},
                "defaultConfiguration": {"seed": 7, **NETWORK}}
    if input_types is not None:
        document["networkInputTypes"] = input_types
    return document


def dl4j_made(networks: dict[str, tuple[dict[str, Any], list[np.ndarray]]], directory: Path,
              layers: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Each configuration initialised by the real DL4J with its own random parameters, run on its
    inputs and saved by ModelSerializer, in one JVM: name -> (the zip DL4J wrote, its run, with the
    activations of the layers ``layers`` names for that network)."""
    from kconvert.verification.dl4j_runner import run_configurations_many

    jobs, zips = [], []
    for name, (document, inputs) in networks.items():
        config = directory / f"{name}.json"
        config.write_text(json.dumps(document))
        jobs.append((config, inputs))
        zips.append(directory / f"{name}.zip")
    runs = run_configurations_many(jobs, save=zips, layers=[(layers or {}).get(name, []) for name in networks])
    return {name: (zip_, run) for name, zip_, run in zip(networks, zips, runs)}
