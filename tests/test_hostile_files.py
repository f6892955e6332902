"""Hostile files, not hostile contents (issue 25): special files and links where a model is
expected, compression bombs whose headers lie, zip member names with a NUL, batch folders whose
links lead out of them, and models that take too long.

Each runs through the API, the command (convert, verify, check) and batch mode, in a child held to
a memory and a time limit (``tests/hostile.py``): a typed one-line error, or exit code 2-4 with one
line and no traceback; nothing left in the output folder or beside it.  A hang fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from kconvert import batch
from tests import zips
from tests.conftest import GENERATED
from tests.fixtures.bad.make_bad_corpus import DENSE_JSON, DL4J_MLN
from tests.hostile import (
    Outcome,
    assert_refused,
    assert_typed_error,
    assert_untouched,
    run_api,
    run_command,
    run_limited,
    snapshot,
)

MLP = GENERATED / "tfkeras" / "mlp.h5"
#: (kind of file, what the refusal says) for each special file a path can name
SPECIAL = {"fifo": "is a FIFO", "dev-zero": "is a character device"}


def assert_check_fails(outcome: Outcome, finding: str, *fragments: str) -> None:
    """``kconvert check`` of a broken export: exit 1, the finding failed, saying every fragment."""
    assert outcome.code == 1 and "Traceback" not in outcome.stderr, outcome.stderr[-2000:]
    lines = [line for line in outcome.stdout.splitlines() if "FAILED" in line and f" {finding}:" in line]
    assert lines and all(f in lines[0] for f in fragments), outcome.stdout


def special(path: Path, kind: str) -> Path:
    """A FIFO, or a symbolic link to /dev/zero, at ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    return path


# -- special files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_a_special_file_as_the_model_is_refused_everywhere(tmp_path: Path, kind: str) -> None:
    model = special(tmp_path / "model.h5", kind)
    before = snapshot(tmp_path)
    assert_typed_error(run_api(f"kconvert.load({str(model)!r})", tmp_path), "model.h5", SPECIAL[kind])
    assert_typed_error(run_api(f"kconvert.convert({str(model)!r}, 'tfjs', 'out')", tmp_path), SPECIAL[kind])
    for args in ([model, "--to", "tfjs", "out"], ["verify", model], ["check", model], ["inspect", model]):
        assert_refused(run_command(args, tmp_path), "model.h5", SPECIAL[kind], codes=(3,))
    assert_untouched(tmp_path, before)


@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_a_special_file_as_the_weights_is_refused(tmp_path: Path, kind: str) -> None:
    (tmp_path / "model.json").write_text(DENSE_JSON)
    special(tmp_path / "weights.h5", kind)
    before = snapshot(tmp_path)
    answer = run_api("kconvert.load('model.json', 'weights.h5')", tmp_path)
    assert_typed_error(answer, "weights.h5", SPECIAL[kind])
    for args in (["model.json", "--weights", "weights.h5", "--to", "tfjs", "out"],
                 ["verify", "model.json", "--weights", "weights.h5"]):
        assert_refused(run_command(args, tmp_path), "weights.h5", SPECIAL[kind], codes=(3,))
    assert_untouched(tmp_path, before)


def test_a_fifo_among_tfjs_shards_is_refused_by_load_and_check(tmp_path: Path) -> None:
    run_api(f"kconvert.convert({str(MLP)!r}, 'tfjs', 'web')", tmp_path)
    shard = next((tmp_path / "web").glob("*.bin"))
    shard.unlink()
    os.mkfifo(shard)
    assert_typed_error(run_api("kconvert.load('web')", tmp_path), shard.name, "is a FIFO")
    assert_check_fails(run_command(["check", "web"], tmp_path), "loads", shard.name, "is a FIFO")


def test_special_files_in_a_batch_are_their_own_errors(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(MLP, models / "mlp.h5")
    os.mkfifo(models / "stuck.h5")
    os.mkfifo(models / "notes")  # no model's name: passed over, never opened
    done = run_command([models, "out", "--to", "tfjs", "--report", "report.json"], tmp_path)
    assert done.code == 1 and "Traceback" not in done.stderr, done.stderr
    report = {m["name"]: m for m in json.loads((tmp_path / "report.json").read_text())["models"]}
    assert report["mlp.h5"]["status"] == "passed"
    assert report["stuck.h5"]["exit_code"] == 3 and "is a FIFO" in report["stuck.h5"]["message"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mlp"]


# -- compression bombs and names -----------------------------------------------------------------

def bzip2_bomb() -> zips.Member:
    """2.5 GB of zeros in under 2 KB, declaring 100 bytes."""
    stream, size = zips.bzip2_zeros(55)
    assert size > 2 * zips.GiB
    return zips.Member(b"", zips.BZIP2, stream, 100, 0)


def deflate_bomb() -> zips.Member:
    """2.5 GB of zeros deflated into 2.5 MB, declaring 100 bytes."""
    return zips.Member(b"", zips.DEFLATED, zips.deflate_zeros(2560 << 20), 100, 0)


def named(m: zips.Member, name: str | bytes) -> zips.Member:
    return zips.Member(name.encode() if isinstance(name, str) else name, m.method, m.stored, m.size, m.crc)


BOMBS = {"bzip2": (bzip2_bomb, "is compressed with bzip2"),
         "deflate": (deflate_bomb, "expands past the 100 bytes it declares")}


def keras_archive(config: zips.Member) -> bytes:
    return zips.archive([named(config, "config.json"), zips.member("metadata.json", b"{}")])


def dl4j_archive(coefficients: zips.Member) -> bytes:
    return zips.archive([zips.member("configuration.json", json.dumps(DL4J_MLN).encode()),
                         named(coefficients, "coefficients.bin")])


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_bomb_with_lying_headers_in_a_keras_archive(tmp_path: Path, bomb: str) -> None:
    make, says = BOMBS[bomb]
    (tmp_path / "model.keras").write_bytes(keras_archive(make()))
    before = snapshot(tmp_path)
    assert_typed_error(run_api("kconvert.load('model.keras')", tmp_path, seconds=60), "model.keras", says)
    for args in (["model.keras", "--to", "tfjs", "out"], ["verify", "model.keras"]):
        assert_refused(run_command(args, tmp_path, seconds=90), "model.keras", says, codes=(3,))
    assert_check_fails(run_command(["check", "model.keras"], tmp_path, seconds=90), "loads", says)
    assert_untouched(tmp_path, before)


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_bomb_with_lying_headers_as_verify_inputs(tmp_path: Path, bomb: str) -> None:
    """An ``.npz`` is a zip too: ``verify --inputs`` reads its members as every archive's."""
    make, says = BOMBS[bomb]
    (tmp_path / "inputs.npz").write_bytes(zips.archive([named(make(), "x0.npy")]))
    before = snapshot(tmp_path)
    assert_refused(run_command(["verify", MLP, "--inputs", "inputs.npz"], tmp_path, seconds=90), "inputs.npz", says,
                   codes=(3,))
    assert_untouched(tmp_path, before)


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_bomb_with_lying_headers_in_a_dl4j_zip(tmp_path: Path, bomb: str) -> None:
    make, says = BOMBS[bomb]
    (tmp_path / "model.zip").write_bytes(dl4j_archive(make()))
    before = snapshot(tmp_path)
    assert_typed_error(run_api("kconvert.load('model.zip')", tmp_path, seconds=60), "model.zip", says)
    for args in (["model.zip", "--to", "tfjs", "out"], ["inspect", "model.zip"]):
        assert_refused(run_command(args, tmp_path, seconds=90), "model.zip", says, codes=(3,))
    assert_check_fails(run_command(["check", "model.zip"], tmp_path, seconds=90), "loads", says)
    assert_untouched(tmp_path, before)


def test_bombs_and_nul_names_in_a_batch_are_their_own_errors(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(MLP, models / "mlp.h5")
    (models / "bzip2.keras").write_bytes(keras_archive(bzip2_bomb()))
    (models / "deflate.keras").write_bytes(keras_archive(deflate_bomb()))
    (models / "nul.keras").write_bytes(zips.archive([zips.member(b"config.json\0.txt", DENSE_JSON.encode()),
                                                     zips.member("metadata.json", b"{}")]))
    done = run_command([models, "out", "--to", "tfjs", "--report", "report.json", "--jobs", "2"], tmp_path)
    assert done.code == 1 and "Traceback" not in done.stderr, done.stderr
    report = {m["name"]: m for m in json.loads((tmp_path / "report.json").read_text())["models"]}
    assert {name: m["exit_code"] for name, m in report.items()} == {
        "mlp.h5": 0, "bzip2.keras": 3, "deflate.keras": 3, "nul.keras": 3}
    assert "holds a NUL byte" in report["nul.keras"]["message"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mlp"]


def test_the_bombs_are_real(tmp_path: Path) -> None:
    """What zipfile does with the bzip2 bomb: one read of 4 KB of it expands past the memory limit."""
    (tmp_path / "model.keras").write_bytes(keras_archive(bzip2_bomb()))
    code = """
        import resource, zipfile
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        try:
            zipfile.ZipFile('model.keras').read('config.json')
        except MemoryError:
            print('MemoryError')
    """
    done = run_limited([sys.executable, "-c", textwrap.dedent(code)], tmp_path, seconds=120)
    assert "MemoryError" in done.stdout, (done.stdout, done.stderr[-500:])


# -- batch discovery -------------------------------------------------------------------------------

def linked_folder(tmp_path: Path) -> Path:
    """A good model, and links: to the root of the file system, to a model outside the folder,
    nowhere, to themselves, to /dev/zero; a link inside the folder to its own parent."""
    models, elsewhere = tmp_path / "models", tmp_path / "elsewhere"
    (models / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(MLP, models / "mlp.h5")
    shutil.copy(MLP, elsewhere / "outside.h5")
    (models / "root").symlink_to("/")
    (models / "outside.h5").symlink_to(elsewhere / "outside.h5")
    (models / "gone.h5").symlink_to(tmp_path / "missing.h5")
    (models / "loop.h5").symlink_to(models / "loop.h5")
    (models / "zero.h5").symlink_to("/dev/zero")
    (models / "sub" / "up").symlink_to(models)
    (models / "sub" / "again.h5").symlink_to(models / "mlp.h5")  # inside: followed
    return models


def test_batch_discovery_does_not_leave_the_folder(tmp_path: Path) -> None:
    models = linked_folder(tmp_path)
    outside = snapshot(tmp_path / "elsewhere")
    done = run_command([models, "out", "--to", "tfjs", "--report", "report.json", "--junit", "junit.xml"], tmp_path,
                       seconds=120)
    assert done.code == 1 and "Traceback" not in done.stderr, done.stderr
    report = {m["name"]: m for m in json.loads((tmp_path / "report.json").read_text())["models"]}
    assert {name: m["exit_code"] for name, m in report.items()} == {
        "mlp.h5": 0, "sub/again.h5": 0, "root": 3, "outside.h5": 3, "gone.h5": 3, "loop.h5": 3, "zero.h5": 3}
    for name in ("root", "outside.h5", "zero.h5"):
        assert "not followed (--follow-links follows it)" in report[name]["message"]
    assert "cannot read it" in report["gone.h5"]["message"] and "cannot read it" in report["loop.h5"]["message"]
    assert (tmp_path / "junit.xml").read_text().count("<error") == 5
    assert sorted(os.listdir(tmp_path / "out")) == ["mlp", "sub"] and os.listdir(tmp_path / "out" / "sub") == ["again"]
    assert_untouched(tmp_path / "elsewhere", outside)


def test_follow_links_follows_them_out_and_still_refuses_what_is_no_file(tmp_path: Path) -> None:
    models = linked_folder(tmp_path)
    (models / "root").unlink()  # followed, it would walk the whole file system
    done = run_command([models, "out", "--to", "tfjs", "--report", "report.json", "--follow-links"], tmp_path)
    assert done.code == 1 and "Traceback" not in done.stderr, done.stderr
    report = {m["name"]: m for m in json.loads((tmp_path / "report.json").read_text())["models"]}
    assert report["outside.h5"]["status"] == "passed"
    assert "is a character device" in report["zero.h5"]["message"]
    checked = run_command(["check", "out", "--follow-links", "--report", "check.json"], tmp_path)
    assert checked.code == 0, checked.stdout[-2000:]


def test_an_entry_that_cannot_be_listed_is_its_own_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(Permission denied is simulated: the tests may run as root, which reads every folder.)"""
    (tmp_path / "m" / "locked").mkdir(parents=True)
    (tmp_path / "m" / "a.h5").write_bytes(b"")
    listing = Path.iterdir

    def iterdir(self: Path) -> object:
        if self.name == "locked":
            raise PermissionError(13, "Permission denied")
        return listing(self)
    monkeypatch.setattr(Path, "iterdir", iterdir)
    found = batch.discover([str(tmp_path / "m")], "convert")
    assert [name for name, _ in found.models] == ["a.h5", "locked"]
    assert found.problems == {"locked": f"{tmp_path / 'm' / 'locked'}: cannot list the directory (Permission denied)"}


# -- time limit ------------------------------------------------------------------------------------

def test_a_model_past_the_time_limit_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    """The worker and the process it started are killed; the others go on; nothing is left."""
    script = f"""
        import json, os, subprocess, sys, time
        from pathlib import Path
        from kconvert import batch
        from kconvert.writers.output import remove_unfinished

        out = Path({str(tmp_path)!r})
        def work(item):
            if item.name == "slow":
                (out / "slow").mkdir()
                child = subprocess.Popen(["sleep", "300"])
                (out / "pid").write_text(str(child.pid))
                time.sleep(300)
            return 0, "done", {{}}
        items = [batch.Item("slow", out / "slow.h5", output=out / "slow"), batch.Item("fast", out / "fast.h5"),
                 batch.Item("unread", out / "unread.h5", problem="unread.h5: cannot read it")]
        start = time.monotonic()
        def cleanup(item):
            if item.output:
                remove_unfinished(item.output, None)
        done = batch.run(items, work, 2, lambda o: None, cleanup, 2.0)
        print(json.dumps([[o.name, o.status, o.exit_code, o.message] for o in done] + [time.monotonic() - start]))
    """
    outcome = run_limited([sys.executable, "-c", textwrap.dedent(script)], tmp_path, seconds=60)
    *done, seconds = json.loads(outcome.stdout)
    assert done[1:] == [["fast", "passed", 0, "done"], ["unread", "error", 3, "unread.h5: cannot read it"]]
    assert done[0][:3] == ["slow", "error", 4] and "time limit per model (--time-limit)" in done[0][3]
    assert seconds < 30 and not (tmp_path / "slow").exists()
    pid = int((tmp_path / "pid").read_text())
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text(), "the worker's own child outlived it"


def test_the_time_limit_through_the_command(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for name in ("a.h5", "b.h5"):
        shutil.copy(MLP, models / name)
    done = run_command([models, "out", "--to", "tfjs", "--time-limit", "0.001", "--junit", "junit.xml"], tmp_path)
    assert done.code == 1 and "Traceback" not in done.stderr
    assert done.stdout.count("time limit per model") == 2
    assert 'type="exit 4"' in (tmp_path / "junit.xml").read_text()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    one = run_command([MLP, "out1", "--to", "tfjs", "--time-limit", "5"], tmp_path)
    assert one.code == 2 and "--time-limit goes with several models" in one.stderr
