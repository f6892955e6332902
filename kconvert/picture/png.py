"""The layout rasterized to PNG with numpy and zlib (no imaging library): boxes, arrows and text in
the built-in 5x7 font.  The layer names also go into a tEXt chunk, so that tools (and tests) can
read what the picture shows."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from kconvert.picture.font import GLYPH_H, GLYPH_W, glyph
from kconvert.picture.layout import CHAR_W, LINE_H, PAD, Layout

_WHITE, _FILL, _BORDER, _EDGE, _TEXT = (255, 255, 255), (238, 243, 251), (52, 86, 139), (85, 85, 85), (0, 0, 0)


def render_png(drawing: Layout, title: str) -> bytes:
    height, width = int(drawing.height) + 1, int(drawing.width) + 1
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[...] = _WHITE
    for source, target in drawing.edges:
        (x1, y1), (x2, y2) = drawing.boxes[source].bottom, drawing.boxes[target].top
        _line(image, x1, y1, x2, y2, _EDGE)
        _arrowhead(image, x1, y1, x2, y2)
    for box in drawing.boxes.values():
        x0, y0, x1, y1 = int(box.x), int(box.y), int(box.x + box.width), int(box.y + box.height)
        image[y0:y1, x0:x1] = _FILL
        image[y0, x0:x1] = image[y1 - 1, x0:x1] = _BORDER
        image[y0:y1, x0] = image[y0:y1, x1 - 1] = _BORDER
        for i, text in enumerate(box.lines):
            _text(image, x0 + PAD, y0 + PAD // 2 + i * LINE_H + (LINE_H - GLYPH_H) // 2, text)
    names = "\n".join(drawing.boxes)
    return _png(image, {"Title": title, "Layers": names})


def _line(image: np.ndarray, x1: float, y1: float, x2: float, y2: float, colour: tuple[int, int, int]) -> None:
    steps = int(max(abs(x2 - x1), abs(y2 - y1))) + 1
    xs = np.clip(np.rint(np.linspace(x1, x2, steps)).astype(int), 0, image.shape[1] - 1)
    ys = np.clip(np.rint(np.linspace(y1, y2, steps)).astype(int), 0, image.shape[0] - 1)
    image[ys, xs] = colour


def _arrowhead(image: np.ndarray, x1: float, y1: float, x2: float, y2: float) -> None:
    direction = np.array([x2 - x1, y2 - y1], dtype=float)
    direction /= max(np.hypot(*direction), 1e-9)
    normal = np.array([-direction[1], direction[0]])
    for side in (1, -1):
        bx, by = np.array([x2, y2]) - 7 * direction + side * 4 * normal
        _line(image, bx, by, x2, y2, _EDGE)


def _text(image: np.ndarray, x: int, y: int, text: str) -> None:
    for i, char in enumerate(text):
        left = x + i * CHAR_W
        if left + GLYPH_W > image.shape[1] or y + GLYPH_H > image.shape[0]:
            break
        region = image[y:y + GLYPH_H, left:left + GLYPH_W]
        region[glyph(char)] = _TEXT


def _png(image: np.ndarray, text: dict[str, str]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    height, width, _ = image.shape
    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), image.reshape(height, -1)], axis=1)  # filter 0
    chunks = [chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    chunks += [chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace"))
               for key, value in text.items()]
    chunks.append(chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)))
    chunks.append(chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)
