"""A real Ray cluster of two nodes on this machine, for the cluster tests and the benchmark.

Each node is its own ``ray start`` (a head, and a second node joined to it), with its own temporary
directory and ports picked free, so that it collides with no other cluster on the machine (another
engineer's, another xdist worker's).  It is stopped by killing the processes it started, found by
its temporary directory: ``ray stop`` would stop every Ray process of the user.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
#: each node's memory and object store (small: the machine is shared)
NODE_MEMORY = 2 * 1024**3
OBJECT_STORE = 200 * 1024**2


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _node_ports() -> list[str]:
    manager, objects, agent, agent_grpc, runtime_env, metrics = free_ports(6)
    return ["--node-manager-port", str(manager), "--object-manager-port", str(objects),
            "--dashboard-agent-listen-port", str(agent), "--dashboard-agent-grpc-port", str(agent_grpc),
            "--runtime-env-agent-port", str(runtime_env), "--metrics-export-port", str(metrics)]


@dataclass
class LocalCluster:
    """Two Ray nodes started here; ``address`` is what ``--cluster`` is given (``client``: the
    head's Ray Client address, ``ray://...``)."""

    address: str
    folders: list[Path]
    client: str = ""

    @classmethod
    def start(cls, cpus_per_node: int = 1, env: dict[str, str] | None = None) -> LocalCluster:
        gcs, client, dashboard = free_ports(3)
        folders = [Path(tempfile.mkdtemp(prefix="kc-ray-")) for _ in range(2)]  # short: Ray's socket paths
        address = f"127.0.0.1:{gcs}"
        common = ["--num-cpus", str(cpus_per_node), "--memory", str(NODE_MEMORY), "--object-store-memory",
                  str(OBJECT_STORE), "--disable-usage-stats", "--min-worker-port", "0", "--max-worker-port", "0"]
        environment = {**os.environ, **(env or {}), "RAY_USAGE_STATS_ENABLED": "0"}
        head = [str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
                "--ray-client-server-port", str(client), "--dashboard-port", str(dashboard),
                "--include-dashboard", "false", "--temp-dir", str(folders[0]), *_node_ports(), *common]
        second = [str(RAY), "start", "--address", address, "--node-ip-address", "127.0.0.1",
                  "--temp-dir", str(folders[1]), *_node_ports(), *common]
        cluster = cls(address, folders, f"ray://127.0.0.1:{client}")
        try:
            # both at once: the second node waits for the head's GCS itself
            starting = [subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True) for command in (head, second)]
            for process in starting:
                said, _ = process.communicate(timeout=120)
                if process.returncode != 0:
                    raise RuntimeError(f"ray start failed: {said[-2000:]}")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def processes(self) -> list[int]:
        """The processes this cluster's nodes run: those naming its folders, and their children."""
        mine: set[int] = set()
        table = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            table[int(entry.name)] = parent
            if int(entry.name) != os.getpid() and any(str(folder) in args for folder in self.folders):
                mine.add(int(entry.name))
        grown = True
        while grown:
            children = {pid for pid, parent in table.items() if parent in mine} - mine
            grown = bool(children)
            mine |= children
        return sorted(mine)

    def stop(self) -> None:
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)
