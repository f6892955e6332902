"""``kconvert inspect --graph``: the model drawn as SVG and PNG, each read back here (XML parsed,
PNG chunks and CRCs checked, pixels decompressed) to see that every layer is in the picture."""

from __future__ import annotations

import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import EXIT_USAGE, main
from kconvert.ir.layers import core, merge
from kconvert.picture import draw
from kconvert.picture.layout import layout
from tests.conftest import GENERATED, ROOT
from tests.helpers import input_layer, layer, model

SVG = "{http://www.w3.org/2000/svg}"
FUNCTIONAL = GENERATED / "keras3" / "functional.keras"


def png_chunks(data: bytes) -> dict[bytes, list[bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, list[bytes]] = {}
    at = 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.setdefault(kind, []).append(body)
        at += 12 + length
    assert kind == b"IEND"
    return chunks


def test_the_svg_names_every_layer_and_draws_every_connection(tmp_path: Path) -> None:
    m = kconvert.load(FUNCTIONAL)
    root = ET.parse(draw(m, tmp_path / "model.svg")).getroot()
    groups = root.findall(f"{SVG}g")
    assert [g.get("data-name") for g in groups] == [layer.name for layer in m.layers]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for lay in m.layers:
        assert any(t.startswith(f"{lay.name} (") for t in texts)
    connections = {(r.layer, lay.name) for lay in m.layers for call in lay.calls for r in call.refs()}
    assert len(root.findall(f"{SVG}line")) == len(connections)
    assert "(None, 11, 3)" in texts  # output shapes are drawn


def test_the_png_holds_the_picture_and_the_layer_names(tmp_path: Path) -> None:
    m = kconvert.load(FUNCTIONAL)
    data = draw(m, tmp_path / "model.png").read_bytes()
    chunks = png_chunks(data)
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
    drawing = layout(m)
    assert (width, height, depth, colour) == (int(drawing.width) + 1, int(drawing.height) + 1, 8, 2)
    raw = np.frombuffer(zlib.decompress(b"".join(chunks[b"IDAT"])), dtype=np.uint8).reshape(height, 1 + 3 * width)
    pixels = raw[:, 1:].reshape(height, width, 3)
    assert (raw[:, 0] == 0).all() and len(np.unique(pixels.reshape(-1, 3), axis=0)) >= 4  # background, boxes, text...
    text = dict(chunk.split(b"\0", 1) for chunk in chunks[b"tEXt"])
    assert text[b"Layers"].decode().split("\n") == [lay.name for lay in m.layers]
    # text is drawn: the first box's label row holds dark pixels
    box = drawing.boxes[m.layers[0].name]
    assert (pixels[int(box.y) + 4:int(box.y) + 16, int(box.x) + 8:int(box.x + box.width) - 8] < 64).any()


def test_hostile_layer_names_are_escaped(tmp_path: Path) -> None:
    name = '<script>alert("x")</script>&'
    m = model([input_layer("in", (None, 4)), layer(name, core.Dense(units=2), ["in"]),
               layer("sum", merge.Add(), [name, name])], ["in"], ["sum"])
    root = ET.parse(draw(m, tmp_path / "m.svg")).getroot()  # well-formed despite the name
    assert [g.get("data-name") for g in root.findall(f"{SVG}g")] == ["in", name, "sum"]
    assert not root.findall(f".//{SVG}script")


def test_the_command_draws_on_request(tmp_path: Path) -> None:
    out = tmp_path / "model.svg"
    result = CliRunner().invoke(main, ["inspect", str(FUNCTIONAL), "--graph", str(out)])
    assert result.exit_code == 0 and out.stat().st_size > 1000 and f"drew {out}" in result.stderr
    again = CliRunner().invoke(main, ["inspect", str(FUNCTIONAL), "--graph", str(out)])
    assert again.exit_code == EXIT_USAGE and "--overwrite" in again.stderr  # never clobbered silently
    wrong = CliRunner().invoke(main, ["inspect", str(FUNCTIONAL), "--graph", str(tmp_path / "model.jpg")])
    assert wrong.exit_code == EXIT_USAGE and not (tmp_path / "model.jpg").exists()


@pytest.mark.parametrize("source", ["tfkeras/rnn.h5", "keras3/cnn2d.keras"])
def test_the_installed_command_draws_png(source: str, tmp_path: Path) -> None:
    out = tmp_path / "model.png"
    result = subprocess.run([sys.executable, "-m", "kconvert", "inspect", str(GENERATED / source), "--json",
                             "--graph", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith("{")  # the JSON report stays clean on stdout
    names = dict(c.split(b"\0", 1) for c in png_chunks(out.read_bytes())[b"tEXt"])[b"Layers"].decode().split("\n")
    assert names == [lay.name for lay in kconvert.load(GENERATED / source).layers]
