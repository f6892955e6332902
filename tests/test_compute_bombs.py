"""Compute bombs and inputs that do not fit (issue 25): a tiny file whose weights are small but
whose run would make a huge tensor is refused before anything runs, naming the layer and the size;
inputs of the wrong rank, kind or too small for a layer are typed errors naming the input or the
layer.  Each through the API and the command, in a child held to tests/hostile.py's limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException, InputReadError
from kconvert.ir.footprint import check_run
from kconvert.ir.layers.attention import Attention, MultiHeadAttention
from kconvert.ir.layers.conv import Conv2D
from kconvert.ir.layers.wrappers import TimeDistributed
from tests.helpers import (
    functional_config,
    input_layer,
    keras_layer,
    layer,
    model,
    raises_exactly,
    sequential_config,
    write_keras2_h5,
    zeros_for,
)
from tests.hostile import assert_refused, assert_typed_error, assert_untouched, run_api, run_command, snapshot

LIMIT = kconvert.Limits().max_intermediate_bytes


# -- what each kind states it makes (the IR alone: no TensorFlow) ----------------------------------------

def one_layer(config: Any, shapes: list[tuple[int | None, ...]]) -> kconvert.Model:
    names = [f"in{i}" for i in range(len(shapes))]
    body = layer("bomb", config, names, weights=zeros_for(config, shapes))
    return model([*(input_layer(n, s) for n, s in zip(names, shapes)), body], names, ["bomb"])


@pytest.mark.parametrize("config, shapes, made", [
    (Attention(), [(None, 4096, 8)] * 2, "(2, 4096, 4096)"),
    (MultiHeadAttention(num_heads=8, key_dim=2, value_dim=2), [(None, 4096, 4)] * 2, "(2, 8, 4096, 4096)"),
    (Conv2D(filters=1, kernel_size=(3, 3), padding="same", dilation_rate=(20000, 20000)), [(None, 8, 8, 1)],
     "(2, 60000, 60000, 1)"),
])
def test_a_kind_states_the_tensors_it_makes_beyond_its_outputs(config: Any, shapes: list, made: str) -> None:
    bomb = one_layer(config, shapes)
    given = [(2, *s[1:]) for s in shapes]
    raises_exactly(IncompatibleKerasConfigurationException, lambda: check_run(bomb, given, 4, 64 * 1024**2),
                   "layer 'bomb'", made, "Limits.max_intermediate_bytes")
    check_run(bomb, given, 4, 64 * 1024**3)  # the same run under a limit it fits


def test_a_wrapper_states_what_its_layer_makes_on_every_step() -> None:
    dilated = layer("conv", Conv2D(filters=1, kernel_size=(3, 3), padding="same", dilation_rate=(20000, 20000)),
                    weights={"kernel": np.zeros((3, 3, 1, 1), "float32"), "bias": np.zeros(1, "float32")})
    wrapped = one_layer(TimeDistributed(layer=dilated), [(None, 3, 8, 8, 1)])
    raises_exactly(IncompatibleKerasConfigurationException, lambda: check_run(wrapped, [(2, 3, 8, 8, 1)], 4, LIMIT),
                   "layer 'bomb'", "(6, 60000, 60000, 1)")


def test_unknown_dimensions_take_the_sizes_of_the_inputs_given() -> None:
    conv = one_layer(Conv2D(filters=1, kernel_size=(5, 5)), [(None, None, None, 1)])
    check_run(conv, [(2, 5, 5, 1)], 4, LIMIT)
    raises_exactly(InputReadError, lambda: check_run(conv, [(2, 4, 9, 1)], 4, LIMIT), "layer 'bomb'",
                   "does not fit an input of length 4")
    raises_exactly(InputReadError, lambda: check_run(conv, [(2, 9, 9)], 4, LIMIT), "input 'in0'", "(2, 9, 9)")


# -- tiny files, through the API and the command ---------------------------------------------------------

def weightless(path: Path, config: dict[str, Any]) -> Path:
    return write_keras2_h5(path, config, {})


BOMBS: dict[str, tuple[Any, str, str]] = {
    # name: (config, the layer named, the input one sample of which the API snippet runs)
    "attention": (functional_config([(keras_layer("InputLayer", "x", batch_input_shape=[None, 65536, 4],
                                                  dtype="float32"), []),
                                     (keras_layer("Attention", "att"), ["x", "x"])], ["x"], ["att"]),
                  "layer 'att' (Attention)", "(2, 65536, 4)"),
    "resizing": (sequential_config(keras_layer("Resizing", "big", height=65535, width=65535,
                                               interpolation="bilinear"), input_shape=(None, 4, 4, 1)),
                 "layer 'big' (Resizing)", "(2, 4, 4, 1)"),
    "upsampling": (sequential_config(keras_layer("UpSampling2D", "up", size=[16000, 16000]),
                                     input_shape=(None, 4, 4, 1)), "layer 'up' (UpSampling2D)", "(2, 4, 4, 1)"),
    "repeat": (sequential_config(keras_layer("RepeatVector", "rep", n=2**30), input_shape=(None, 4)),
               "layer 'rep' (RepeatVector)", "(2, 4)"),
}


@pytest.fixture
def bombs(tmp_path: Path) -> dict[str, Path]:
    files = {name: weightless(tmp_path / f"{name}.h5", config) for name, (config, _, _) in BOMBS.items()}
    assert all(p.stat().st_size < 16 * 1024 for p in files.values())
    return files


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_compute_bomb_is_refused_before_it_runs(name: str, bombs: dict[str, Path], tmp_path: Path) -> None:
    _, named, shape = BOMBS[name]
    before = snapshot(tmp_path)
    answer = run_api(f"""
        import numpy as np
        kconvert.run(kconvert.load({str(bombs[name])!r}), np.zeros({shape}, "float32"))
    """, tmp_path)
    assert_typed_error(answer, named, "Limits.max_intermediate_bytes", "GiB")
    refused = assert_refused(run_command(["verify", bombs[name], "--no-keras"], tmp_path), named,
                             "max_intermediate_bytes", codes=(4,))
    assert str(bombs[name]) in refused
    assert_untouched(tmp_path, before)


def test_a_compute_bomb_still_converts_and_check_refuses_to_run_it(bombs: dict[str, Path], tmp_path: Path) -> None:
    """A valid model that is merely big converts; what refuses is a run of it."""
    out = tmp_path / "out.keras"
    answer = run_api(f"kconvert.convert({str(bombs['attention'])!r}, 'keras', {str(out)!r})", tmp_path)
    assert answer == {"ok": True}
    before = snapshot(tmp_path)
    assert_refused(run_command(["check", out, "--source", bombs["attention"]], tmp_path), "layer 'att' (Attention)",
                   "max_intermediate_bytes", codes=(4,))
    assert_untouched(tmp_path, before)


def test_the_limit_can_be_raised(bombs: dict[str, Path], tmp_path: Path) -> None:
    """Raised past the bomb, the limit lets the run start (a tiny batch of a smaller sequence fits)."""
    small = weightless(tmp_path / "small.h5", functional_config([
        (keras_layer("InputLayer", "x", batch_input_shape=[None, 512, 4], dtype="float32"), []),
        (keras_layer("Attention", "att"), ["x", "x"])], ["x"], ["att"]))
    low = kconvert.Limits(max_intermediate_bytes=512 * 1024)
    answer = run_api(f"""
        import numpy as np
        m = kconvert.load({str(small)!r})
        kconvert.run(m, np.ones((1, 512, 4), "float32"))
        kconvert.run(m, np.ones((1, 512, 4), "float32"), limits=kconvert.Limits(max_intermediate_bytes={low.max_intermediate_bytes}))
    """, tmp_path)
    assert_typed_error(answer, "layer 'att' (Attention)", "(1, 512, 512)", "512 KiB")
    refused = run_command(["verify", small, "--no-keras", "--batch", "1", "--limit", "max_intermediate_bytes=512KiB"],
                          tmp_path)
    assert_refused(refused, "(1, 512, 512)", codes=(4,))
    assert run_command(["verify", small, "--no-keras", "--batch", "1"], tmp_path).code == 1  # ran: nothing to compare


# -- inputs that do not fit ------------------------------------------------------------------------------

def test_inputs_that_do_not_fit_are_typed_errors(tmp_path: Path) -> None:
    conv = write_keras2_h5(tmp_path / "conv.h5", sequential_config(
        keras_layer("Conv2D", "conv", filters=2, kernel_size=[5, 5], padding="valid", activation="linear",
                    use_bias=False), input_shape=(None, None, None, 1)),
        {"conv": {"kernel:0": np.ones((5, 5, 1, 2), "float32")}})
    np.save(tmp_path / "small.npy", np.zeros((2, 3, 3, 1), "float32"))
    before = snapshot(tmp_path)
    for given, fragments in [("np.zeros((2, 3, 3, 1))", ("layer 'conv' (Conv2D)", "does not fit an input of length 3")),
                             ("np.zeros((2, 9, 9))", ("input 'input'", "(2, 9, 9)")),
                             ("np.array([['a']])", ("input 'input'", "numbers"))]:
        answer = run_api(f"import numpy as np\nkconvert.run(kconvert.load({str(conv)!r}), {given})", tmp_path)
        assert answer["error"] == "InputReadError"
        assert_typed_error(answer, *fragments)
    assert_refused(run_command(["verify", conv, "--no-keras", "--inputs", tmp_path / "small.npy"], tmp_path),
                   "layer 'conv' (Conv2D)", "does not fit", codes=(3,))
    assert_untouched(tmp_path, before)


@pytest.mark.parametrize("name", ["resizing", "upsampling"])
def test_an_onnx_bomb_is_refused_before_onnx_runtime_runs_it(name: str, bombs: dict[str, Path],
                                                           tmp_path: Path) -> None:
    """kconvert does not read ONNX back, so its runner bounds a run from ONNX's own shape inference."""
    out = tmp_path / f"{name}.onnx"
    kconvert.convert(bombs[name], "onnx", out)
    before = snapshot(tmp_path)
    answer = run_api(f"""
        import numpy as np
        from kconvert.formats.detect import detect
        from kconvert.verification.onnx_runner import run_onnx
        run_onnx(detect({str(out)!r}), [np.zeros({BOMBS[name][2]}, "float32")], [], None, "float32")
    """, tmp_path)
    assert_typed_error(answer, str(out), "Limits.max_intermediate_bytes", "GiB")
    assert_untouched(tmp_path, before)
