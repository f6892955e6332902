"""Writing an IR model for Deeplearning4j: ``configuration.json`` and a ModelSerializer zip.

A chain becomes a ``MultiLayerConfiguration``, anything else a ``ComputationGraphConfiguration``
(1.0.0-beta7+ ``@class`` dialect; keys sorted, as DL4J's Jackson writes them).  Flatten, Reshape
and Permute become input preprocessors, merges become Merge/ElementWise vertices.  Every layer's
``variables`` lists its parameters in flattening order (DL4J reads BatchNormalization's
variance-or-log-std choice from it), and graphs carry their topological order so that the
parameter layout does not depend on DL4J's own sort.  ``coefficients.bin`` is one FLOAT row
vector, streamed layer by layer; no updater state is written.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kconvert.errors import IncompatibleKerasConfigurationException, UnsupportedKerasConfigurationException
from kconvert.formats.dl4j import (
    COEFFICIENTS,
    CONFIGURATION,
    GRAPH,
    LAYERS,
    LOSSES,
    MODEL_ZIP,
    NO_PARAMS,
    UPDATERS,
    write_row_header,
)
from kconvert.ir.graph import Layer, Model
from kconvert.ir.layers.core import InputLayer
from kconvert.ir.shapes import Shape
from kconvert.schemas import validate
from kconvert.writers.context import WriteContext, Written
from kconvert.writers.dl4j.layers import DL4J_ACTIVATIONS, EMITTERS, EmitContext, Emitted, Params, inexpressible
from kconvert.writers.dl4j.preprocessors import PREPROCESSOR_RULES, compose, preprocessors
from kconvert.writers.keras.graph import is_chain, keras_layers
from kconvert.writers.lowering import Target, lower
from kconvert.writers.output import atomic_directory

DL4J_TARGET = Target("Deeplearning4j", {a: a for a in DL4J_ACTIVATIONS},
                     inlines_models="Deeplearning4j configurations have no sub-networks")
#: IR merge kinds -> ElementWiseVertex op
_ELEMENTWISE = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Product", "Average": "Average",
                "Maximum": "Max"}
#: Keras loss -> DL4J loss class
_LOSSES = {"categorical_crossentropy": "LossMCXENT", "sparse_categorical_crossentropy": "LossSparseMCXENT",
           "binary_crossentropy": "LossBinaryXENT", "mean_squared_error": "LossMSE", "mse": "LossMSE",
           "mean_absolute_error": "LossMAE", "mae": "LossMAE", "mean_squared_logarithmic_error": "LossMSLE",
           "mean_absolute_percentage_error": "LossMAPE", "kl_divergence": "LossKLD", "hinge": "LossHinge",
           "squared_hinge": "LossSquaredHinge", "poisson": "LossPoisson", "cosine_similarity": "LossCosineProximity"}
_NO_OP = {"@class": UPDATERS + "NoOp"}
_CONF_DEFAULTS = {"cacheMode": "NONE", "dataType": "FLOAT", "epochCount": 0, "iterationCount": 0,
                  "maxNumLineSearchIterations": 5, "miniBatch": True, "minimize": True,
                  "optimizationAlgo": "STOCHASTIC_GRADIENT_DESCENT", "seed": 0, "stepFunction": None}
_NETWORK_DEFAULTS = {"backpropType": "Standard", "cacheMode": "NONE", "dataType": "FLOAT", "epochCount": 0,
                     "inferenceWorkspaceMode": "ENABLED", "iterationCount": 0, "tbpttBackLength": 20,
                     "tbpttFwdLength": 20, "trainingWorkspaceMode": "ENABLED", "validateOutputLayerConfig": True}
#: kinds written as graph vertices rather than layers
VERTEX_KINDS = frozenset(_ELEMENTWISE) | {"Concatenate"}


@dataclass
class _Piece:
    """One DL4J layer (or vertex) and its parameter blocks."""

    name: str
    layer: dict[str, Any] | None  # None for a vertex
    params: Params
    vertex: dict[str, Any] | None = None
    inputs: list[str] | None = None


def write_dl4j(model: Model, output: str | os.PathLike[str], *, overwrite: bool = False,
               enforce_training_config: bool = False, config_only: bool = False) -> Written:
    """Write ``configuration.json`` and (unless ``config_only``) ``model.zip`` into ``output``."""
    ctx = WriteContext("dl4j", enforce_training_config)
    if model.lacks_weights and not config_only:
        raise IncompatibleKerasConfigurationException(
            f"model '{model.name}' has no weights loaded (a configuration only): use --config-only")
    lowered = lower(model, DL4J_TARGET, ctx)
    updater, losses = _training(lowered, ctx)
    pieces, config = _Builder(lowered, updater, losses, ctx).build()
    validate(config, "dl4j-computationgraph" if "vertices" in config else "dl4j-multilayer")
    text = json.dumps(config, indent=2, sort_keys=True, allow_nan=False)
    count = 0
    with atomic_directory(Path(output), overwrite) as staged:
        (staged / CONFIGURATION).write_text(text, encoding="utf-8")
        if not config_only:
            count = _write_zip(staged / MODEL_ZIP, text, pieces)
    out = Path(output)
    files = [out / CONFIGURATION] + ([] if config_only else [out / MODEL_ZIP])
    weights = 0 if config_only else sum(len(p.params) for p in pieces)
    return Written(out, files, ctx.report, weights=weights, weight_bytes=4 * count)


def _write_zip(path: Path, text: str, pieces: list[_Piece]) -> int:
    blocks = [block for piece in pieces for block in piece.params]
    count = sum(block.size for block in blocks)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(CONFIGURATION, text)
        if count == 0:
            zf.writestr(COEFFICIENTS, b"")
            zf.writestr(NO_PARAMS, b"")
            return 0
        with zf.open(COEFFICIENTS, "w", force_zip64=True) as fh:
            fh.write(write_row_header(count))
            for block in blocks:  # a chunk of one tensor in memory at a time
                for chunk in block.weight.iter_chunks():
                    fh.write(memoryview(chunk.astype(">f4")).cast("B"))
    return count


def _training(model: Model, ctx: WriteContext) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The iupdater and the loss per output layer; without enforce_training_config neither is
    carried (a warning), as Deeplearning4j's Keras import does."""
    training = model.training
    if training is None or (training.optimizer is None and not training.losses):
        return _NO_OP, {}
    if not ctx.enforce_training_config:
        ctx.note("unsupported", "the training configuration (optimizer, loss) is not carried: pass "
                 "enforce_training_config / --enforce-training-config to turn them into the updater and output "
                 "layers", severity="warning")
        return _NO_OP, {}
    updater = _updater(training.optimizer) if training.optimizer is not None else _NO_OP
    losses = {}
    for output, loss in training.losses.items():
        if loss.name not in _LOSSES or loss.config:
            raise UnsupportedKerasConfigurationException(f"loss {loss.name} has no Deeplearning4j equivalent",
                                                         layer=output, key="loss")
        losses[output] = {"@class": LOSSES + _LOSSES[loss.name]}
    return updater, losses


def _updater(optimizer: Any) -> dict[str, Any]:
    c, name = optimizer.config, optimizer.name.lower()
    lr = float(c.get("learning_rate", c.get("lr", 0.01)))
    if float(c.get("decay") or 0.0):
        raise UnsupportedKerasConfigurationException(
            f"{optimizer.name}(decay={c['decay']}): a learning-rate decay is not carried to Deeplearning4j",
            key="decay")
    if name == "sgd":
        momentum = float(c.get("momentum", 0.0))
        if momentum and not c.get("nesterov", False):  # unlike DL4J's Keras import, which swaps it silently
            raise UnsupportedKerasConfigurationException(
                "SGD with classical momentum: Deeplearning4j has Nesterov momentum only", key="momentum")
        return ({"@class": UPDATERS + "Nesterovs", "learningRate": lr, "momentum": momentum} if momentum
                else {"@class": UPDATERS + "Sgd", "learningRate": lr})
    if name in ("adam", "adamax", "nadam"):
        return {"@class": UPDATERS + {"adam": "Adam", "adamax": "AdaMax", "nadam": "Nadam"}[name], "learningRate": lr,
                "beta1": float(c.get("beta_1", 0.9)), "beta2": float(c.get("beta_2", 0.999)),
                "epsilon": float(c.get("epsilon") or 1e-7)}
    if name == "rmsprop":
        return {"@class": UPDATERS + "RmsProp", "learningRate": lr, "rmsDecay": float(c.get("rho", 0.9)),
                "epsilon": float(c.get("epsilon") or 1e-7)}
    if name == "adagrad":
        return {"@class": UPDATERS + "AdaGrad", "learningRate": lr, "epsilon": float(c.get("epsilon") or 1e-7)}
    if name == "adadelta":
        return {"@class": UPDATERS + "AdaDelta", "rho": float(c.get("rho", 0.95)),
                "epsilon": float(c.get("epsilon") or 1e-7)}
    raise UnsupportedKerasConfigurationException(f"optimizer {optimizer.name} has no Deeplearning4j equivalent",
                                                 key="optimizer")


class _Builder:
    def __init__(self, model: Model, updater: dict[str, Any], losses: dict[str, dict[str, Any]],
                 ctx: WriteContext) -> None:
        self.model = model
        self.ctx = ctx
        self.updater = updater
        self.losses = losses
        self.shapes = model.shapes()

    def build(self) -> tuple[list[_Piece], dict[str, Any]]:
        formats = {layer.config.data_format: layer for layer in self.model.layers
                   if getattr(layer.config, "data_format", None) and len(self._inputs(layer)[0]) == 4}
        if len(formats) > 1:
            raise formats["channels_first"].context_error(IncompatibleKerasConfigurationException(
                "the model's image layers disagree on the layout (channels_first and channels_last): a "
                "Deeplearning4j configuration records no image size to reconcile them with; convert with --layout "
                "channels_last --layout-io channels_last for one layout"))
        inputs = {ref.layer for ref in self.model.inputs}
        for layer in self.model.layers:
            if layer.kind == "Permute" and any(ref.layer in inputs for ref in layer.calls[0].inputs):
                raise layer.context_error(IncompatibleKerasConfigurationException(
                    "a permutation of a network input: a Deeplearning4j configuration records no input shape, and "
                    "a permuted one cannot be read back from the layers after it (after --layout channels_last, add "
                    "--layout-io channels_last: the network then takes channels-last images)"))
        if is_chain(self.model) and self.model.layers[-1].kind not in PREPROCESSOR_RULES:
            return self._multilayer()
        return self._graph()  # where a preprocessor has no layer to run in front of

    def _inputs(self, layer: Layer) -> list[Shape]:
        return [self.shapes[(r.layer, r.node)][r.index] for r in layer.calls[0].inputs]

    def _emit(self, layer: Layer) -> Emitted:
        if len(layer.calls) != 1:
            raise inexpressible(layer, "a layer called more than once (shared weights)")
        fn = EMITTERS.get(layer.kind)
        if fn is None:
            raise inexpressible(layer, f"layer kind {layer.kind}")
        emitted = fn(EmitContext(layer, self._inputs(layer), self.updater, self.ctx))
        if layer.name in self.losses:
            self._as_output_layer(layer, emitted)
        return emitted

    def _as_output_layer(self, layer: Layer, emitted: Emitted) -> None:
        """The Dense layer a loss is on as an OutputLayer (an RnnOutputLayer over a sequence)."""
        if emitted.config["@class"] == LAYERS + "recurrent.TimeDistributed":
            emitted.config = {**emitted.config["underlying"], "@class": LAYERS + "RnnOutputLayer",
                              "layerName": layer.name, "rnnDataFormat": "NWC"}
        elif layer.kind == "Dense":
            emitted.config["@class"] = LAYERS + "OutputLayer"
        if emitted.config["@class"] not in (LAYERS + "OutputLayer", LAYERS + "RnnOutputLayer"):
            raise layer.context_error(UnsupportedKerasConfigurationException(
                "a loss on a layer other than Dense: Deeplearning4j's output layers are dense", key="loss"))
        emitted.config.pop("hasLayerNorm", None)
        emitted.config["lossFn"] = self.losses[layer.name]

    def _conf(self, emitted: Emitted) -> dict[str, Any]:
        return {**_CONF_DEFAULTS, "layer": emitted.config, "variables": [block.key for block in emitted.params]}

    def _multilayer(self) -> tuple[list[_Piece], dict[str, Any]]:
        pieces: list[_Piece] = []
        confs, preprocessors_by_layer = [], {}
        pending: list[dict[str, Any]] = []
        for layer in self.model.layers[1:]:
            if layer.kind in PREPROCESSOR_RULES:
                pending += preprocessors(layer, self._inputs(layer)[0])
                continue
            emitted = self._emit(layer)
            if pending:
                preprocessors_by_layer[str(len(confs))] = compose(pending)
                pending = []
            confs.append(self._conf(emitted))
            pieces.append(_Piece(layer.name, emitted.config, emitted.params))
        source = self.model.input_layers[0]
        rank = len(source.config.batch_shape)
        shape_keeping = ("ActivationLayer", "DropoutLayer")  # the layers that declare no input size
        if rank != 2 and all(c["layer"]["@class"].endswith(shape_keeping) for c in confs):
            raise source.context_error(IncompatibleKerasConfigurationException(
                f"no layer of the network declares its input size and the input has rank {rank}: a "
                "Deeplearning4j configuration records no input shape to read it back by"))
        return pieces, {**_NETWORK_DEFAULTS, "confs": confs, "inputPreProcessors": preprocessors_by_layer}

    def _graph(self) -> tuple[list[_Piece], dict[str, Any]]:
        model = self.model
        order = [layer for layer in keras_layers(model) if not isinstance(layer.config, InputLayer)]
        inputs = [ref.layer for ref in model.inputs]
        vertices, vertex_inputs, pieces = {}, {}, []
        for layer in order:
            if len(layer.calls) != 1:
                self._emit(layer)  # refuses shared layers with the reason
            sources = []
            for ref in layer.calls[0].inputs:
                if ref.index or ref.node:
                    raise inexpressible(layer, "a layer reading a second output or call of another layer")
                sources.append(ref.layer)
            vertex_inputs[layer.name] = sources
            if layer.kind in PREPROCESSOR_RULES:
                vertices[layer.name] = {"@class": GRAPH + "PreprocessorVertex",
                                        "preProcessor": compose(preprocessors(layer, self._inputs(layer)[0]))}
                pieces.append(_Piece(layer.name, None, []))
            elif layer.kind in _ELEMENTWISE:
                vertices[layer.name] = {"@class": GRAPH + "ElementWiseVertex", "op": _ELEMENTWISE[layer.kind]}
                pieces.append(_Piece(layer.name, None, []))
            elif layer.kind == "Concatenate":
                rank = len(self._inputs(layer)[0])
                if layer.config.axis % rank != rank - 1:
                    raise inexpressible(layer, "a Concatenate over an axis other than the features", "axis")
                vertices[layer.name] = {"@class": GRAPH + "MergeVertex", "mergeAxis": rank - 1}
                pieces.append(_Piece(layer.name, None, []))
            else:
                emitted = self._emit(layer)
                vertices[layer.name] = {"@class": GRAPH + "LayerVertex", "layerConf": self._conf(emitted),
                                        "outputVertex": False, "preProcessor": None}
                pieces.append(_Piece(layer.name, emitted.config, emitted.params))
        outputs = []
        for ref in model.outputs:
            if ref.index or ref.node or ref.layer in inputs:
                raise IncompatibleKerasConfigurationException(
                    f"model output {ref}: Deeplearning4j outputs are whole vertices")
            outputs.append(ref.layer)
        # DL4J numbers the network inputs, then the vertices as the (sorted) JSON lists them; the
        # topological order, in those numbers, fixes the parameter layout
        names = inputs + [layer.name for layer in order]
        index = {name: i for i, name in enumerate(inputs + sorted(vertices))}
        variables = [f"{p.name}_{block.key}" for p in pieces for block in p.params]
        config = {**_NETWORK_DEFAULTS, "defaultConfiguration": {**_CONF_DEFAULTS, "layer": None,
                                                                "variables": variables},
                  "networkInputs": inputs, "networkOutputs": outputs, "vertexInputs": vertex_inputs,
                  "vertices": vertices, "topologicalOrder": [index[n] for n in names], "topologicalOrderStr": names}
        return pieces, config

