"""What a cluster node does with one model, without a cluster: files sent as bytes and back, the
worker's paths put back to the driver's, and an occupied output refused as locally (no Ray needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kconvert.cluster import shipping
from kconvert.cluster.worker import install
from tests.conftest import GENERATED


def test_a_folder_and_a_file_travel_as_one_bounded_tar(tmp_path: Path) -> None:
    web = tmp_path / "web"
    (web / "sub").mkdir(parents=True)
    (web / "model.json").write_text("{}")
    (web / "sub" / "shard.bin").write_bytes(b"\0" * 100)
    (tmp_path / "m.h5").write_bytes(b"h5")
    data = shipping.pack({"a/web": web, "b/m.h5": tmp_path / "m.h5"})
    names = shipping.unpack(data, tmp_path / "there")
    assert names == ["a", "b"]
    assert (tmp_path / "there" / "a" / "web" / "sub" / "shard.bin").read_bytes() == b"\0" * 100
    assert (tmp_path / "there" / "b" / "m.h5").read_bytes() == b"h5"
    with pytest.raises(shipping.TooLarge, match="102 bytes .* over the 101-byte limit"):
        shipping.pack({"web": web}, limit=101)


def test_worker_paths_become_the_drivers_longest_first() -> None:
    places = {"/tmp/w/in/source": "/data/models", "/tmp/w/in/source/m.h5": "/data/models/m.h5"}
    value = {"msg": "/tmp/w/in/source/m.h5: bad", "list": ["/tmp/w/in/source/x"], "n": 3}
    assert shipping.translate(value, places) == {"msg": "/data/models/m.h5: bad", "list": ["/data/models/x"], "n": 3}


def test_fingerprints_tell_the_same_file(tmp_path: Path) -> None:
    (tmp_path / "m.h5").write_bytes(b"12")
    [printed] = shipping.fingerprints([tmp_path / "m.h5"])
    assert printed.holds()
    (tmp_path / "m.h5").write_bytes(b"123")
    assert not printed.holds()


def test_outputs_are_installed_over_the_old_ones_with_nothing_left_staged(tmp_path: Path) -> None:
    made = tmp_path / "made"
    (made / "mlp").mkdir(parents=True)
    (made / "mlp" / "model.json").write_text("new")
    (made / "mlp.js").write_text("companion")
    out = tmp_path / "out" / "mlp"
    out.mkdir(parents=True)
    (out / "old.bin").write_text("old")
    install(shipping.pack({"mlp": made / "mlp", "mlp.js": made / "mlp.js"}), out)
    assert sorted(p.name for p in out.iterdir()) == ["model.json"] and (out / "model.json").read_text() == "new"
    assert sorted(p.name for p in out.parent.iterdir()) == ["mlp", "mlp.js"]


def test_a_node_without_the_drivers_files_converts_copies_and_names_the_drivers_paths(tmp_path: Path) -> None:
    """Run in a subprocess: batch mode forks, which a pytest worker that imported TensorFlow must not."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(GENERATED / "tfkeras" / "mlp.h5", models / "mlp.h5")
    (tmp_path / "out" / "taken").mkdir(parents=True)
    (tmp_path / "out" / "taken" / "x").write_text("occupied")
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        import kconvert
        from kconvert import batch
        from kconvert.cluster import worker
        from kconvert.errors import KConvertError

        def work(item):
            try:
                written = kconvert.convert(str(item.path), "tfjs", str(item.output))
            except KConvertError as exc:
                return 2, str(exc), None
            return 0, f"-> {{item.output}} from {{item.path}}", {{"files": written.files and len(written.files)}}

        root, out = Path({str(models)!r}), Path({str(tmp_path / "out")!r})
        results = []
        for name in ("mlp", "taken"):
            item = batch.Item("mlp.h5", root / "mlp.h5", output=out / name)
            task = worker.Task(item, shared=False, occupant=worker.occupant(item.output), time_limit=60)
            done = worker.run_task(task, work, None, worker.sources_of(item), {{"id": "n", "host": "h", "address": "a"}})
            if done.outputs is not None:
                worker.install(done.outputs, item.output)
            results.append(done.outcome.to_dict())
        print(json.dumps(results))
    """)
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    fine, taken = json.loads(ran.stdout)
    assert fine["status"] == "passed" and fine["path"] == str(models / "mlp.h5")
    assert fine["message"] == f"-> {tmp_path / 'out' / 'mlp'} from {models / 'mlp.h5'}"
    assert fine["output"] == str(tmp_path / "out" / "mlp")
    assert sorted(p.name for p in (tmp_path / "out" / "mlp").iterdir()) == ["group1-shard1of1.bin", "model.json"]
    assert taken["status"] == "error" and taken["exit_code"] == 2
    assert taken["message"].startswith(str(tmp_path / "out" / "taken")) and "not empty" in taken["message"]
    assert (tmp_path / "out" / "taken" / "x").read_text() == "occupied"
    assert not list((tmp_path / "out").glob(".*"))
