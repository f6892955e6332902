"""Shrinking a finding: the smallest description that still shows it.

Each round makes every one-step reduction of the current description (a node removed, its consumers
taking its input instead, and with it what then feeds no output: nodes, then inputs; the model cut at
an earlier tensor; an extra output dropped; a configuration key left to Keras's default; a list of
sizes set to ones; an input axis shortened) and runs them all as one batch (one start of each framework and
runtime), keeping the smallest that
still shows the same finding (:attr:`Outcome.signature`).  Candidates the framework cannot build
simply do not reproduce.  Rounds go on until none does, or the time is up.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path

from tests.differential.outcomes import TARGETS, Outcome
from tests.differential.runner import run_batch
from tests.differential.spec import Input, ModelSpec


def _without_node(spec: ModelSpec, j: int) -> ModelSpec | None:
    """``spec`` without node ``j`` (its consumers take its first input instead), and without what
    then feeds no output."""
    dropped = _drop(spec, j)
    return None if dropped is None else _pruned(dropped)


def _drop(spec: ModelSpec, j: int) -> ModelSpec | None:
    node = spec.nodes[j]
    first_out = len(spec.inputs) + sum(n.outputs for n in spec.nodes[:j])
    removed = range(first_out, first_out + node.outputs)

    def remap(t: int) -> int:
        if t in removed:
            return node.inputs[0]
        return t - node.outputs if t >= first_out + node.outputs else t

    nodes = []
    for i, n in enumerate(spec.nodes):
        if i == j:
            continue
        share = None if n.share == j else (n.share - 1 if n.share is not None and n.share > j else n.share)
        nodes.append(dataclasses.replace(n, inputs=tuple(remap(t) for t in n.inputs), share=share))
    outputs = tuple(dict.fromkeys(remap(t) for t in spec.outputs))
    if not nodes or any(t < len(spec.inputs) for t in outputs):
        return None
    return dataclasses.replace(spec, nodes=tuple(nodes), outputs=outputs)


def _dead(spec: ModelSpec) -> int | None:
    """The last node no output depends on (nor any call sharing its layer)."""
    starts, t = [], len(spec.inputs)
    for n in spec.nodes:
        starts.append(t)
        t += n.outputs
    needed = set(spec.outputs)
    shared = {m.share for m in spec.nodes if m.share is not None}
    dead = None
    for i in reversed(range(len(spec.nodes))):
        n = spec.nodes[i]
        if any(t in needed for t in range(starts[i], starts[i] + n.outputs)) or i in shared:
            needed.update(n.inputs)
        elif dead is None:
            dead = i
    return dead


def _pruned(spec: ModelSpec) -> ModelSpec:
    """Without the nodes no output depends on, then without the inputs nothing reads (DL4J networks
    are chains: kept whole)."""
    while spec.framework != "dl4j" and (i := _dead(spec)) is not None:
        dropped = _drop(spec, i)
        if dropped is None:
            break
        spec = dropped
    if spec.framework == "dl4j":
        return spec
    read = {t for n in spec.nodes for t in n.inputs} | set(spec.outputs)
    for i in reversed(range(len(spec.inputs))):
        if i not in read and len(spec.inputs) > 1:
            spec = _without_input(spec, i)
    return spec


def _without_input(spec: ModelSpec, i: int) -> ModelSpec:
    """``spec`` without input ``i``, which nothing reads (the tensors after it renumbered)."""
    def remap(t: int) -> int:
        return t - 1 if t > i else t

    nodes = tuple(dataclasses.replace(n, inputs=tuple(remap(t) for t in n.inputs)) for n in spec.nodes)
    return dataclasses.replace(spec, inputs=spec.inputs[:i] + spec.inputs[i + 1:], nodes=nodes,
                               outputs=tuple(remap(t) for t in spec.outputs))


def reductions(spec: ModelSpec) -> Iterator[ModelSpec]:
    pruned = _pruned(spec)
    if pruned != spec:  # a description drawn with nodes no output needs: first of all without them
        yield pruned
    for j in range(len(spec.nodes)):
        reduced = _without_node(spec, j)
        if reduced is not None:
            yield reduced
    if len(spec.outputs) > 1:
        for t in spec.outputs:
            yield _pruned(dataclasses.replace(spec, outputs=(t,)))
    if spec.sequential and spec.framework != "dl4j":
        yield dataclasses.replace(spec, sequential=False)
    for j, node in enumerate(spec.nodes):
        for key, value in node.config.items():
            if key in ("nin", "nout", "lossFn", "layer", "layers", "input_shape"):
                continue
            simpler = [{k: v for k, v in node.config.items() if k != key}]
            if isinstance(value, list) and all(isinstance(v, int) for v in value) and any(v != 1 for v in value):
                simpler.append({**node.config, key: [1] * len(value)})
            if isinstance(value, int) and not isinstance(value, bool) and value > 1:
                simpler.append({**node.config, key: 1})
            for config in simpler:
                nodes = list(spec.nodes)
                nodes[j] = dataclasses.replace(node, config=config)
                yield dataclasses.replace(spec, nodes=tuple(nodes))
    if spec.framework != "dl4j":
        for i, given in enumerate(spec.inputs):
            for axis, size in enumerate(given.shape):
                if size > 1:
                    shape = given.shape[:axis] + (size - 1,) + given.shape[axis + 1:]
                    inputs = list(spec.inputs)
                    inputs[i] = Input(shape, given.dtype, given.high)
                    yield dataclasses.replace(spec, inputs=tuple(inputs))


def shrink(spec: ModelSpec, finding: Outcome, work: Path, seconds: float = 300.0,
           per_round: int = 24) -> tuple[ModelSpec, int]:
    """The smallest description found that still shows ``finding``, and the rounds it took."""
    targets = (finding.stage,) if finding.stage in TARGETS else ()
    wanted = finding.signature
    deadline, rounds = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        rounds += 1
        seen = {json.dumps(spec.to_dict(), sort_keys=True)}
        candidates = []
        for c in sorted(reductions(spec), key=lambda c: c.size()):
            key = json.dumps(c.to_dict(), sort_keys=True)
            if key not in seen and c.size() < spec.size():
                seen.add(key)
                candidates.append(c)
        if not candidates:
            break
        candidates = candidates[:per_round]
        outcomes = run_batch(candidates, work / f"round{rounds}", targets)
        showing = sorted({o.model for o in outcomes if o.status == "finding" and o.signature == wanted},
                         key=lambda i: candidates[i].size())
        if not showing:
            break
        spec = candidates[showing[0]]
    return spec, rounds
