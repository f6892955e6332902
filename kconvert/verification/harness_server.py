"""Node and the JVM started once per batch worker, not once per model.

Batch mode runs each model in a child forked for it alone, and a model verified in TF.js or
Deeplearning4j would start Node or a JVM (seconds) for itself.  The process that owns the batch's
worker slots (the local batch parent, or a Ray worker process) starts this server instead: a
small process of its own (standard library only, so it starts in milliseconds and never imports
TensorFlow) listening on a UNIX socket in a private folder, whose path the forked children inherit
in ``$KCONVERT_HARNESS_SERVER``.  A child sends one job list (the ``jobs.json`` a harness process
would be given) and waits for the answer; the server hands it to a harness it keeps running in
its ``--serve`` mode (started on first use, so a batch that never verifies starts none; at most
one per slot and command), which writes each model's result to its own file, as a process started
for the list would, and says "done".  :func:`kconvert.verification.harness.run_jobs` is the one
place choosing between the server and a process of the child's own.

What can go wrong costs the list it happens to, as it does for a process of the list's own: a
harness that crashes is answered with its exit status and what it wrote to stderr meanwhile; one
past the list's time is killed and answered as timed out; a child that goes away mid-list (its
time limit) has its harness killed, so that no later model waits on it.  A harness is started
afresh on the next list.  It is retired after :data:`RECYCLE_JOBS` lists or once its memory passes
:data:`RECYCLE_RSS`.  The server ends when its owner does (the pipe it reads from the owner reaches
its end) and takes its harnesses with it (they die with their parent, ``PR_SET_PDEATHSIG``).

``$KCONVERT_RESIDENT_HARNESS=0`` turns it off: each list in a process of its own, as before.
``$KCONVERT_HARNESS_LOG`` names a file the server appends one JSON line to per harness started,
list sent to one, and harness retired or lost (how the tests and the benchmark count starts).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the environment variable naming the server's socket, for the children of its owner
ADDRESS = "KCONVERT_HARNESS_SERVER"
#: "0" turns the server off (each job list in a process of its own)
SWITCH = "KCONVERT_RESIDENT_HARNESS"
#: a file the server appends its events to (JSON lines)
LOG = "KCONVERT_HARNESS_LOG"
#: in a harness command, the folder the harness may write files of its own into (a crashing JVM's
#: hs_err): the job list's folder for a process of its own, the server's folder for a served harness
SCRATCH = "{scratch}"
#: what a serving harness is given as its last argument instead of a job file
SERVE = "--serve"
#: what a serving harness writes to stdout, with the request's number, when a list is done
DONE = "kconvert-harness done"
#: a harness is retired after this many lists, or once its resident memory passes this many bytes
RECYCLE_JOBS = 200
RECYCLE_RSS = 3 * 1024**3
#: seconds a child waits for the server beyond the list's own time limit, should the server hang
GRACE = 60.0
#: what of a crashed harness's stderr goes back (its last lines are what the runners report)
STDERR_TAIL = 64 * 1024


# -- the owner: start it, keep it -----------------------------------------------------------------

@dataclass
class Server:
    """A running server, as its owner holds it: the process, the pipe whose end tells it the owner
    is gone, and its private folder (the socket in it)."""

    process: subprocess.Popen[bytes]
    folder: Path

    @property
    def address(self) -> str:
        return str(self.folder / "socket")

    @classmethod
    def start(cls, slots: int, recycle_jobs: int = RECYCLE_JOBS, recycle_rss: int = RECYCLE_RSS) -> Server:
        """Listen here (so a child may connect before the server runs), then hand the socket over."""
        folder = Path(tempfile.mkdtemp(prefix="kconvert-harness-"))  # 0700: only this user connects
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(folder / "socket"))
            listener.listen(64)
            process = subprocess.Popen(
                [sys.executable, "-I", __file__, str(folder), str(listener.fileno()), str(slots), str(recycle_jobs),
                 str(recycle_rss), str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=[listener.fileno()],
                env={k: v for k, v in os.environ.items() if k != ADDRESS})
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            listener.close()
        return cls(process, folder)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """End it (its harnesses with it) and remove its folder."""
        if self.process.stdin is not None:
            self.process.stdin.close()  # the server's lifeline: it ends on reading its end
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


#: this process's server, while it has one
_server: Server | None = None


def enabled() -> bool:
    return os.environ.get(SWITCH, "1") != "0" and sys.platform.startswith("linux")


@contextmanager
def serving(slots: int, recycle_jobs: int = RECYCLE_JOBS) -> Iterator[None]:
    """While the block runs, this process's forked children (and this process) have their job
    lists run by a server of ``slots`` harnesses per command: this process's kept one
    (:func:`keep`), else one started here and stopped after the block."""
    global _server
    if not enabled() or (_server is not None and _server.alive()):
        yield
        return
    _server = Server.start(slots, recycle_jobs)
    previous = os.environ.get(ADDRESS)
    os.environ[ADDRESS] = _server.address
    try:
        yield
    finally:
        server, _server = _server, None
        if previous is None:
            os.environ.pop(ADDRESS, None)
        else:
            os.environ[ADDRESS] = previous
        server.stop()


def keep(slots: int = 1) -> None:
    """Give this process a server for the rest of its life (a cluster worker, which runs one model
    per task but many tasks): started now, or again if it died; it ends when this process does."""
    global _server
    if not enabled() or (_server is not None and _server.alive()):
        return
    if _server is not None:
        _server.stop()
    _server = Server.start(slots)
    os.environ[ADDRESS] = _server.address


# -- a child: send a list, wait for it --------------------------------------------------------------

def run(command: list[str], job_file: str, timeout: float,
        env: dict[str, str] | None) -> subprocess.CompletedProcess[str] | None:
    """Have the server run ``job_file`` on a harness started as ``command`` (``env``: variables
    set for it): the harness's exit status and stderr as a process of its own would give them (0
    and nothing while it serves on).  None where there is no server, or it went away: the caller
    then starts a process of its own.  Raises :class:`subprocess.TimeoutExpired` past ``timeout``."""
    address = os.environ.get(ADDRESS)
    if not address or not enabled():
        return None
    request = {"command": command, "env": env or {}, "jobs": job_file, "timeout": timeout}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout + GRACE)
            connection.connect(address)
            connection.sendall(json.dumps(request).encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = connection.recv(65536)
                if not chunk:
                    return None
                answer += chunk
    except socket.timeout:
        raise subprocess.TimeoutExpired(command, timeout) from None
    except OSError:
        return None
    reply = json.loads(answer)
    if reply.get("timed_out"):
        raise subprocess.TimeoutExpired(command, timeout)
    return subprocess.CompletedProcess(command, reply["returncode"], "", reply["stderr"])


# -- the server ------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Client:
    """A child's connection: its request once read, and the harness running it."""

    connection: socket.socket
    received: bytes = b""
    request: dict[str, Any] | None = None
    harness: _Harness | None = None
    deadline: float = float("inf")
    since: int = 0  # where the harness's stderr log stood when the list began


@dataclass(eq=False)
class _Harness:
    """A serving harness: its process, stderr log, what it has said on stdout, and its work."""

    key: tuple[Any, ...]
    process: subprocess.Popen[bytes]
    log: Path
    runtime: str
    said: bytes = b""
    lists: int = 0
    sent: int = 0  # the number the list it runs (or ran last) was sent with
    client: _Client | None = None


@dataclass
class _Serving:
    """The server's state: its folder, the harnesses by command, the lists waiting for one."""

    folder: Path
    slots: int
    recycle_jobs: int
    recycle_rss: int
    owner: int
    events: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    harnesses: list[_Harness] = field(default_factory=list)
    waiting: list[_Client] = field(default_factory=list)
    started: int = 0
    requests: int = 0

    def loop(self, listener: socket.socket) -> None:
        listener.setblocking(False)
        self.events.register(listener, selectors.EVENT_READ, self._accept)
        self.events.register(sys.stdin.buffer, selectors.EVENT_READ, self._lifeline)
        while True:
            busy = [h.client for h in self.harnesses if h.client is not None]
            soonest = min((c.deadline for c in busy), default=float("inf"))
            wait = None if soonest == float("inf") else max(0.0, soonest - time.monotonic())
            for key, _ in self.events.select(wait):
                key.data(key.fileobj)
            now = time.monotonic()
            for harness in list(self.harnesses):
                if harness.client is not None and now >= harness.client.deadline:
                    client = harness.client
                    self._end(harness, "timed out")
                    self._answer(client, {"timed_out": True})
                    self._next()

    # the owner
    def _lifeline(self, stdin: Any) -> None:
        if not os.read(stdin.fileno(), 4096):  # the owner is gone (or stopping us): so are we
            for harness in list(self.harnesses):
                self._end(harness, "server ended")
            raise SystemExit(0)

    # children
    def _accept(self, listener: socket.socket) -> None:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return
        client = _Client(connection)
        self.events.register(connection, selectors.EVENT_READ, lambda _: self._read(client))

    def _read(self, client: _Client) -> None:
        try:
            chunk = client.connection.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:  # the child went away (killed at its time limit): what it asked for is dropped
            self._drop(client)
            return
        client.received += chunk
        if client.request is None and b"\n" in client.received:
            client.request = json.loads(client.received.split(b"\n", 1)[0])
            self._dispatch(client)

    def _drop(self, client: _Client) -> None:
        self._close(client)
        if client in self.waiting:
            self.waiting.remove(client)
        if client.harness is not None and client.harness.client is client:
            self._end(client.harness, "its child went away")  # it may be stuck on that list: never reuse it

    def _close(self, client: _Client) -> None:
        try:
            self.events.unregister(client.connection)
        except (KeyError, ValueError):
            pass
        client.connection.close()

    def _answer(self, client: _Client, reply: dict[str, Any]) -> None:
        try:
            client.connection.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass
        client.harness = None
        self._close(client)

    # harnesses
    def _dispatch(self, client: _Client) -> None:
        request = client.request
        assert request is not None
        key = (tuple(request["command"]), tuple(sorted(request["env"].items())))
        harness = next((h for h in self.harnesses if h.key == key and h.client is None), None)
        if harness is None:
            if sum(h.key == key for h in self.harnesses) >= self.slots:
                self.waiting.append(client)
                return
            harness = self._start(key, request)
        self.requests += 1
        harness.sent = self.requests
        self._note("list", harness)
        client.harness, harness.client = harness, client
        client.deadline = time.monotonic() + float(request["timeout"])
        client.since = harness.log.stat().st_size
        try:
            assert harness.process.stdin is not None
            harness.process.stdin.write(f"{harness.sent} {request['jobs']}\n".encode())
            harness.process.stdin.flush()
        except OSError:  # it died: its stdout's end says so, and how
            pass

    def _start(self, key: tuple[Any, ...], request: dict[str, Any]) -> _Harness:
        self.started += 1
        log = self.folder / f"harness{self.started}.log"
        command = [arg.replace(SCRATCH, str(self.folder)) for arg in request["command"]]
        with open(log, "wb") as stderr:
            process = subprocess.Popen([*command, SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=stderr, cwd=self.folder, env={**os.environ, **request["env"]},
                                       preexec_fn=_die_with_parent)
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        harness = _Harness(key, process, log, Path(command[0]).name)
        self.harnesses.append(harness)
        self.events.register(process.stdout, selectors.EVENT_READ, lambda _: self._said(harness))
        self._note("start", harness)
        return harness

    def _said(self, harness: _Harness) -> None:
        assert harness.process.stdout is not None
        try:
            chunk = os.read(harness.process.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        if not chunk:  # it ended: the list it was running gets its status and stderr, as a process's caller would
            client = harness.client
            harness.process.wait()
            stderr = self._tail(harness, client.since) if client is not None else ""
            self._end(harness, "ended")
            if client is not None:
                self._answer(client, {"returncode": harness.process.returncode, "stderr": stderr})
            self._next()
            return
        harness.said = (harness.said + chunk)[-4096:]
        if harness.client is None or f"{DONE} {harness.sent}\n".encode() not in harness.said:
            return
        client, harness.client, harness.said = harness.client, None, b""
        harness.lists += 1
        self._answer(client, {"returncode": 0, "stderr": ""})
        if harness.lists >= self.recycle_jobs or _rss(harness.process.pid) > self.recycle_rss:
            self._end(harness, "retired")
        self._next()

    def _next(self) -> None:
        """Lists waiting for a harness, now that one is free (or may be started)."""
        waiting, self.waiting = self.waiting, []
        for client in waiting:
            self._dispatch(client)

    def _end(self, harness: _Harness, why: str) -> None:
        if harness.process.poll() is None:
            harness.process.kill()
        harness.process.wait()
        assert harness.process.stdout is not None and harness.process.stdin is not None
        try:
            self.events.unregister(harness.process.stdout)
        except (KeyError, ValueError):
            pass
        harness.process.stdout.close()
        try:
            harness.process.stdin.close()
        except OSError:
            pass
        self.harnesses.remove(harness)
        harness.log.unlink(missing_ok=True)
        self._note(why, harness)
        harness.client = None

    @staticmethod
    def _tail(harness: _Harness, since: int) -> str:
        """What the harness wrote to stderr since ``since`` (its last :data:`STDERR_TAIL` bytes)."""
        with open(harness.log, "rb") as fh:
            fh.seek(max(since, harness.log.stat().st_size - STDERR_TAIL))
            return fh.read().decode(errors="replace")

    def _note(self, event: str, harness: _Harness) -> None:
        path = os.environ.get(LOG)
        if not path:
            return
        line = {"event": event, "runtime": harness.runtime, "pid": harness.process.pid, "owner": self.owner,
                "server": os.getpid(), "lists": harness.lists, "time": time.time()}
        with open(path, "a") as fh:
            fh.write(json.dumps(line) + "\n")


def _rss(pid: int) -> int:
    """A process's resident memory in bytes (0 where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _die_with_parent() -> None:
    """In a harness, before it runs: be killed when the server dies, whatever it is doing then."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main(argv: list[str]) -> None:
    folder, listener, slots, recycle_jobs, recycle_rss, owner = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch's to handle; it then stops us
    serving = _Serving(Path(folder), int(slots), int(recycle_jobs), int(recycle_rss), int(owner))
    serving.loop(socket.socket(fileno=int(listener)))


if __name__ == "__main__":
    main(sys.argv[1:])
