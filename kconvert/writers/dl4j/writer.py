"""Writing an IR model for Deeplearning4j: ``configuration.json`` and a ModelSerializer zip.

A chain becomes a ``MultiLayerConfiguration``, anything else a ``ComputationGraphConfiguration``
(1.0.0-beta7+ ``@class`` dialect; keys sorted, as DL4J's Jackson writes them).  Flatten, Reshape
and Permute become input preprocessors, merges become Merge/ElementWise vertices.  Every layer's
``variables`` lists its parameters in flattening order (DL4J reads BatchNormalization's
variance-or-log-std choice from it), and graphs carry their topological order so that the
parameter layout does not depend on DL4J's own sort.  ``coefficients.bin`` is one FLOAT row
vector, streamed layer by layer into a stored (uncompressed) zip member -- a transposed matrix (a Dense
kernel, in DL4J's 'f' order) tile by tile, each tile's rows written at their offsets; no updater state is written.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException, UnsupportedKerasConfigurationException
from kconvert.formats.dl4j import (
    COEFFICIENTS,
    CONFIGURATION,
    ELEMENTWISE_OPS,
    GRAPH,
    LAYERS,
    LOSSES,
    MODEL_ZIP,
    NO_PARAMS,
    REVERSE_TIME,
    UPDATERS,
    write_row_header,
)
from kconvert.ir.extent import RAW_BYTES
from kconvert.ir.graph import Layer, Model
from kconvert.ir.layers.core import InputLayer
from kconvert.ir.layout import to_channels_last
from kconvert.ir.shapes import Shape
from kconvert.ir.weights import Weight
from kconvert.rewrite.lowering import Target, lower
from kconvert.schemas import validate
from kconvert.writers.context import WriteContext, Written
from kconvert.writers.io_names import with_io_names
from kconvert.writers.dl4j.layers import (
    DECLARES_INPUT,
    DL4J_ACTIVATIONS,
    EMITTERS,
    KEEPS_SHAPE,
    EmitContext,
    Emitted,
    Params,
    inexpressible,
)
from kconvert.writers.dl4j.masks import masked_recurrent
from kconvert.writers.dl4j.preprocessors import PREPROCESSOR_RULES, compose, preprocessors
from kconvert.writers.dl4j.rewrites import DL4J_RULES
from kconvert.writers.keras.graph import is_chain, keras_layers
from kconvert.writers.output import atomic_directory

DL4J_TARGET = Target(
    "Deeplearning4j", {a: a for a in DL4J_ACTIVATIONS}, DL4J_RULES,
    inlines_models="Deeplearning4j configurations have no sub-networks",
    unshares_layers="a Deeplearning4j layer runs once per forward pass",
    lacks={"GRU": "DL4J has no GRU layer", "ConvLSTM2D": "DL4J has no convolutional LSTM",
           "Attention": "DL4J's attention layers and AttentionVertex learn query, key and value projections; "
                        "Keras's Attention has none",
           "LocallyConnected2D": "DL4J's LocallyConnected2D is a SameDiff layer kconvert does not write",
           "LocallyConnected1D": "DL4J's LocallyConnected1D is a SameDiff layer kconvert does not write"})
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
#: how coefficients.bin holds each value (Nd4j.write: a DataOutputStream's big-endian FLOAT)
_FLOAT = np.dtype(">f4")
#: kinds written as graph vertices rather than layers
VERTEX_KINDS = frozenset(ELEMENTWISE_OPS) | {"Concatenate"}


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
    ctx = WriteContext("dl4j", enforce_training_config, config_only)
    if model.lacks_weights and not config_only:
        raise IncompatibleKerasConfigurationException(
            f"model '{model.name}' has no weights loaded (a configuration only): use --config-only")
    lowered, masks = masked_recurrent(with_io_names(_one_layout(lower(model, DL4J_TARGET, ctx), ctx), ctx), ctx)
    updater, losses = _training(lowered, ctx)
    pieces, config = _ConfigurationBuilder(lowered, updater, losses, ctx, masks).build()
    if _chained_dropouts(lowered) or _time_distributed(pieces) or _read_output(config):
        # DL4J 1.0.0-M2.1 fails its workspace validation on a DropoutLayer reading another one's output
        # (each returns its input as it is at inference), on a TimeDistributed layer reading another
        # layer's output or as a graph's output (it hands its wrapped layer an input outside the INPUT
        # workspace, "Workspace WS_LAYER_ACT_0 for array type INPUT is not open"), and on a graph output
        # another vertex reads (see _read_output): run without workspaces, which only costs memory
        config["inferenceWorkspaceMode"] = config["trainingWorkspaceMode"] = "NONE"
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


def _read_output(config: dict[str, Any]) -> bool:
    """Whether a ComputationGraph has an output another vertex reads: DL4J's workspace planning then
    gives a vertex no workspace manager at all (a NullPointerException)."""
    read = {name for names in config.get("vertexInputs", {}).values() for name in names}
    return any(name in read for name in config.get("networkOutputs", ()))


#: DL4J layers that, at inference, apply their function to their input array in place (ActivationLayer
#: takes its input as it is, then its activation overwrites it), and those that return their input's array
IN_PLACE = frozenset({"ActivationLayer"})
PASSED_ON = frozenset({"DropoutLayer"})


def _free_name(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _seen_elsewhere(source: str, readers: Counter[str], passed_on: set[str],
                    vertex_inputs: dict[str, list[str]]) -> bool:
    """Whether the array vertex ``source`` outputs (following the vertices that pass their input's array
    on, back to the one that made it) is read by another vertex too or is a network output: an
    ActivationLayer reading it would overwrite what they see (a network input is not in a workspace, so
    DL4J does not copy it; without workspaces no array is copied)."""
    while True:
        if readers[source] > 1:
            return True
        if source not in passed_on:
            return False
        source = vertex_inputs[source][0]


def _time_distributed(pieces: list[_Piece]) -> bool:
    """Whether a layer is written as DL4J's TimeDistributed wrapper (a Dense over a sequence)."""
    return any(p.layer is not None and p.layer["@class"] == LAYERS + "recurrent.TimeDistributed" for p in pieces)


def _chained_dropouts(model: Model) -> bool:
    """Whether a layer written as a DropoutLayer (of the written layers, the training-only ones) reads
    another one's output: DL4J fails its workspace validation on it (each returns its input as it is
    at inference)."""
    by_name = {layer.name: layer for layer in model.layers}
    return any(layer.config.training_only and any(by_name[ref.layer].config.training_only
                                                   for call in layer.calls for ref in call.inputs)
               for layer in model.layers)


def _image_formats(model: Model) -> dict[str, Layer]:
    """The data formats of the layers reading images, each with one layer using it."""
    shapes = model.shapes()
    return {layer.config.data_format: layer for layer in model.layers
            if getattr(layer.config, "data_format", None) and len(layer.calls) == 1
            and len(shapes[(layer.calls[0].inputs[0].layer, layer.calls[0].inputs[0].node)][
                layer.calls[0].inputs[0].index]) == 4}


def _one_layout(model: Model, ctx: WriteContext) -> Model:
    """A model whose image layers disagree on the layout, rewritten channels-last throughout (its
    inputs and outputs keep their layout): a DL4J configuration records no image size to reconcile
    the two layouts with, and the rewrite computes the same function."""
    if len(_image_formats(model)) < 2:
        return model
    relaid = lower(to_channels_last(model), DL4J_TARGET, ctx)
    ctx.note("rewritten", "image layers in both layouts: rewritten channels_last throughout, with Permute layers "
             "where the layout changes", severity="info")
    return relaid


def _input_type(shape: Shape, fmt: str) -> dict[str, Any]:
    """A network input's shape as DL4J's InputType JSON (-1: unknown).  DL4J 1.0.0-M2.1 does not
    store input types in a configuration and ignores the key; kconvert's reader takes input shapes
    from it where no layer declares its input size."""
    dims = [-1 if d is None else int(d) for d in shape[1:]]
    prefix = "org.deeplearning4j.nn.conf.inputs.InputType$InputType"
    if len(dims) == 1:
        return {"@class": prefix + "FeedForward", "size": dims[0], "timeDistributedFormat": None}
    if len(dims) == 2:
        return {"@class": prefix + "Recurrent", "size": dims[1], "timeSeriesLength": dims[0], "format": "NWC"}
    if len(dims) == 3:
        if fmt == "channels_first":
            return {"@class": prefix + "Convolutional", "channels": dims[0], "height": dims[1], "width": dims[2],
                    "format": "NCHW"}
        return {"@class": prefix + "Convolutional", "height": dims[0], "width": dims[1], "channels": dims[2],
                "format": "NHWC"}
    if len(dims) == 4:
        if fmt == "channels_first":
            return {"@class": prefix + "Convolutional3D", "channels": dims[0], "depth": dims[1], "height": dims[2],
                    "width": dims[3], "dataFormat": "NCDHW"}
        return {"@class": prefix + "Convolutional3D", "depth": dims[0], "height": dims[1], "width": dims[2],
                "channels": dims[3], "dataFormat": "NDHWC"}
    raise IncompatibleKerasConfigurationException(f"a network input of shape {shape}: Deeplearning4j cannot "
                                                  "express it")


def _write_zip(path: Path, text: str, pieces: list[_Piece]) -> int:
    blocks = [block for piece in pieces for block in piece.params]
    count = sum(block.size for block in blocks)
    with open(path, "w+b") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(CONFIGURATION, text)
        if count == 0:
            zf.writestr(COEFFICIENTS, b"")
            zf.writestr(NO_PARAMS, b"")
            return 0
        # stored, not deflated: random-looking floats barely compress, deflating them was nearly all of
        # the writing time (VGG16: 24 s of 25), and DL4J's ModelSerializer (java.util.zip.ZipFile) reads
        # stored members as it reads deflated ones
        coefficients = zipfile.ZipInfo(COEFFICIENTS)
        coefficients.compress_type = zipfile.ZIP_STORED
        with zf.open(coefficients, "w", force_zip64=True) as member:
            member.write(write_row_header(count))
            for block in blocks:  # a chunk of one tensor in memory at a time
                if block.weight.tiled:
                    _place_tiles(fh, member, block.weight)
                else:
                    for chunk in block.weight.iter_chunks():
                        member.write(memoryview(chunk.astype(_FLOAT)).cast("B"))
    return count


def _place_tiles(fh: BinaryIO, member: IO[bytes], weight: Weight) -> None:
    """Write ``weight`` (a :attr:`~Weight.tiled` matrix; big-endian float32, C order) into ``member`` at ``fh``'s position, tile by tile:
    each tile's rows written at their offsets in the file, then the range read back in order through
    ``member`` (the same bytes again, so that zipfile counts and checksums the member itself)."""
    fh.flush()
    start, fd = fh.tell(), fh.fileno()
    end = start + _FLOAT.itemsize * weight.size
    staging = np.empty(0, _FLOAT)  # one tile, converted; reused
    for index, tile in weight.iter_tiles():
        if staging.size < tile.size:
            staging = np.empty(tile.size, _FLOAT)
        np.copyto(staging[:tile.size].reshape(tile.shape), tile, casting="unsafe")
        (rows, columns), width = index, tile.shape[1] * _FLOAT.itemsize
        values = memoryview(staging).cast("B")
        for k, row in enumerate(range(rows.start, rows.stop)):  # the tile's rows, each at its offset
            os.pwrite(fd, values[k * width:(k + 1) * width],
                      start + _FLOAT.itemsize * (row * weight.shape[1] + columns.start))
    buffer = memoryview(bytearray(RAW_BYTES))
    for position in range(start, end, RAW_BYTES):
        piece = buffer[:min(RAW_BYTES, end - position)]
        if os.preadv(fd, [piece], position) != len(piece):
            raise OSError(f"{fh.name}: short read at byte {position} of what was just written")
        member.write(piece)


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


class _ConfigurationBuilder:
    def __init__(self, model: Model, updater: dict[str, Any], losses: dict[str, dict[str, Any]],
                 ctx: WriteContext, masks: dict[str, float]) -> None:
        self.model = model
        self.masks = masks  # recurrent layer -> the value of the steps it masks
        self.ctx = ctx
        self.updater = updater
        self.losses = losses
        self.shapes = model.shapes()

    def build(self) -> tuple[list[_Piece], dict[str, Any]]:
        formats = _image_formats(self.model)
        if len(formats) > 1:
            raise formats["channels_first"].context_error(IncompatibleKerasConfigurationException(
                "the model's image layers disagree on the layout (channels_first and channels_last) even after "
                "the channels-last rewrite: Deeplearning4j cannot express it"))
        if is_chain(self.model) and self.model.layers[-1].kind not in PREPROCESSOR_RULES and self._sized():
            return self._multilayer()
        # where a preprocessor has no layer to run in front of, or the input's shape must be recorded
        return self._graph()

    def _sized(self) -> bool:
        """Whether a MultiLayerConfiguration lets a reader derive the input shape: its first layer
        declares it (a rank-2 input of activations and dropout aside), not a preprocessor."""
        rank = len(self.model.input_layers[0].config.batch_shape)
        first = next((layer for layer in self.model.layers[1:] if layer.kind not in KEEPS_SHAPE), None)
        return first.kind in DECLARES_INPUT if first is not None else rank == 2

    def _input_type(self, name: str) -> dict[str, Any]:
        """The InputType of network input ``name``, in the layout of the first layer reading it."""
        shape = self.shapes[(name, 0)][0]
        fmt = next((getattr(layer.config, "data_format", None) for layer in self.model.layers
                    if any(ref.layer == name for call in layer.calls for ref in call.inputs)
                    and getattr(layer.config, "data_format", None)), "channels_last")
        return _input_type(shape, fmt)

    def _inputs(self, layer: Layer) -> list[Shape]:
        return [self.shapes[(r.layer, r.node)][r.index] for r in layer.calls[0].inputs]

    def _emit(self, layer: Layer) -> Emitted:
        if len(layer.calls) != 1:
            raise inexpressible(layer, "a layer called more than once (shared weights)")
        fn = EMITTERS.get(layer.kind)
        if fn is None:
            why = DL4J_TARGET.lacks.get(layer.kind)
            raise inexpressible(layer, f"layer kind {layer.kind}" + (f" ({why})" if why else ""))
        emitted = fn(EmitContext(layer, self._inputs(layer), self.updater, self.ctx, self.masks.get(layer.name)))
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
        return pieces, {**_NETWORK_DEFAULTS, "confs": confs, "inputPreProcessors": preprocessors_by_layer}

    def _graph(self) -> tuple[list[_Piece], dict[str, Any]]:
        model = self.model
        order = [layer for layer in keras_layers(model) if not isinstance(layer.config, InputLayer)]
        inputs = [ref.layer for ref in model.inputs]
        vertices, vertex_inputs, pieces = {}, {}, []
        names = list(inputs)  # the topological order, copies included
        readers = Counter(ref.layer for layer in order for ref in layer.calls[0].inputs)
        readers.update(ref.layer for ref in model.outputs)
        passed_on: set[str] = set()  # vertices whose output is their input's array (a view or the array itself)
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
                passed_on.add(layer.name)
            elif layer.kind in ELEMENTWISE_OPS:
                vertices[layer.name] = {"@class": GRAPH + "ElementWiseVertex", "op": ELEMENTWISE_OPS[layer.kind]}
                pieces.append(_Piece(layer.name, None, []))
            elif layer.kind == "GetItem":
                if layer.config != REVERSE_TIME or len(self._inputs(layer)[0]) != 3:
                    raise inexpressible(layer, f"the subscript {layer.config.items}")
                vertices[layer.name] = {"@class": GRAPH + "rnn.ReverseTimeSeriesVertex", "maskArrayInputName": None}
                pieces.append(_Piece(layer.name, None, []))
            elif layer.kind == "Concatenate":
                rank = len(self._inputs(layer)[0])
                axis = layer.config.axis % rank
                if axis != rank - 1 and not (rank in (4, 5) and axis == 1):
                    raise inexpressible(layer, "a Concatenate over an axis other than the features or the channels "
                                        "of channels-first images", "axis")
                vertices[layer.name] = {"@class": GRAPH + "MergeVertex", "mergeAxis": axis}
                pieces.append(_Piece(layer.name, None, []))
            else:
                emitted = self._emit(layer)
                kind = emitted.config["@class"].removeprefix(LAYERS)
                if kind in IN_PLACE and _seen_elsewhere(sources[0], readers, passed_on, vertex_inputs):
                    copy = _free_name(f"{layer.name}_copy", {*inputs, *(other.name for other in order), *vertices})
                    vertices[copy] = {"@class": GRAPH + "ScaleVertex", "scaleFactor": 1.0}
                    vertex_inputs[copy], vertex_inputs[layer.name] = sources, [copy]
                    names.append(copy)
                    pieces.append(_Piece(copy, None, []))
                if kind in IN_PLACE or kind in PASSED_ON:
                    passed_on.add(layer.name)
                vertices[layer.name] = {"@class": GRAPH + "LayerVertex", "layerConf": self._conf(emitted),
                                        "outputVertex": False, "preProcessor": None}
                pieces.append(_Piece(layer.name, emitted.config, emitted.params))
            names.append(layer.name)
        outputs = []
        for ref in model.outputs:
            if ref.index or ref.node or ref.layer in inputs:
                raise IncompatibleKerasConfigurationException(
                    f"model output {ref}: Deeplearning4j outputs are whole vertices")
            outputs.append(ref.layer)
        # DL4J numbers the network inputs, then the vertices as the (sorted) JSON lists them; the
        # topological order, in those numbers, fixes the parameter layout
        index = {name: i for i, name in enumerate(inputs + sorted(vertices))}
        variables = [f"{p.name}_{block.key}" for p in pieces for block in p.params]
        config = {**_NETWORK_DEFAULTS, "defaultConfiguration": {**_CONF_DEFAULTS, "layer": None,
                                                                "variables": variables},
                  "networkInputs": inputs, "networkInputTypes": [self._input_type(name) for name in inputs],
                  "networkOutputs": outputs, "vertexInputs": vertex_inputs,
                  "vertices": vertices, "topologicalOrder": [index[n] for n in names], "topologicalOrderStr": names}
        return pieces, config

