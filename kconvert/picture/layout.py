"""Where each layer of a model goes in a picture: a layered drawing of the graph, like Keras's
``plot_model``.  Layers sit in rows by their longest path from an input; within a row they are
ordered by the mean position of the layers feeding them (one barycenter pass), which keeps
most edges from crossing in the branching models people actually build."""

from __future__ import annotations

from dataclasses import dataclass

from kconvert.ir.graph import Model
from kconvert.ir.shapes import shape_str

CHAR_W, LINE_H, PAD, ROW_GAP, COL_GAP, MARGIN = 7, 16, 8, 36, 24, 16


@dataclass
class Box:
    name: str
    lines: tuple[str, ...]  # the layer's name and kind, then its output shape(s)
    x: float = 0.0  # top-left corner
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0

    @property
    def top(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y

    @property
    def bottom(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height


@dataclass
class Layout:
    boxes: dict[str, Box]
    edges: list[tuple[str, str]]  # (from layer, to layer), one per distinct connection
    width: float
    height: float


def layout(model: Model) -> Layout:
    shapes = model.shapes()
    boxes: dict[str, Box] = {}
    for layer in model.layers:
        outputs = [shape_str(s) for node in range(len(layer.calls)) for s in shapes.get((layer.name, node), [])]
        lines = (f"{layer.name} ({layer.source_class or layer.kind})", ", ".join(dict.fromkeys(outputs)) or "-")
        width = max(len(line) for line in lines) * CHAR_W + 2 * PAD
        boxes[layer.name] = Box(layer.name, lines, width=width, height=len(lines) * LINE_H + PAD)
    edges = list(dict.fromkeys((ref.layer, layer.name) for layer in model.layers for call in layer.calls
                               for ref in call.refs()))
    rank: dict[str, int] = {}
    for layer, _ in model.nodes():  # topological: every input's rank is known before its users'
        sources = [rank[ref.layer] for call in layer.calls for ref in call.refs() if ref.layer in rank]
        rank[layer.name] = max([rank.get(layer.name, 0), *(r + 1 for r in sources)])
    rows: dict[int, list[str]] = {}
    for name in boxes:
        rows.setdefault(rank.get(name, 0), []).append(name)
    position: dict[str, float] = {}
    for r in sorted(rows):
        feeding = {name: [position[a] for a, b in edges if b == name and a in position] for name in rows[r]}
        order = {name: float(i) for i, name in enumerate(rows[r])}  # inputs and sources keep model order
        rows[r].sort(key=lambda n: sum(feeding[n]) / len(feeding[n]) if feeding[n] else order[n])
        for i, name in enumerate(rows[r]):
            position[name] = i
    widths = {r: sum(boxes[n].width for n in names) + COL_GAP * (len(names) - 1) for r, names in rows.items()}
    total_width = max(widths.values(), default=0) + 2 * MARGIN
    y = MARGIN
    for r in sorted(rows):
        x = (total_width - widths[r]) / 2
        height = max(boxes[n].height for n in rows[r])
        for name in rows[r]:
            box = boxes[name]
            box.x, box.y = x, y
            x += box.width + COL_GAP
        y += height + ROW_GAP
    return Layout(boxes, edges, total_width, y - ROW_GAP + MARGIN)
