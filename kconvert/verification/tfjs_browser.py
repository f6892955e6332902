"""Running a TF.js layers model in a real headless browser (Chromium), as a TF.js user's page does.

Node (``tfjs_runner``) proves the model with tfjs's pure-JavaScript CPU backend; users run it in a
browser, where ``tf.loadLayersModel`` fetches ``model.json`` and its shards over HTTP and the webgl
backend usually computes.  Here a local server on 127.0.0.1 serves a small page, the stock
``tf.min.js`` from the harness's ``node_modules`` (nothing comes from the internet), the model
directory under ``/model/``, and the inputs; headless Chromium opens the page, which predicts and
POSTs the outputs back.  A model directory holding kconvert's ``kconvert-layers.js`` (its companion
module for layers tfjs lacks) gets the packaged module loaded right after ``tf.min.js``, as a
user's page would load the copy; any other file of that name is refused (``tfjs_companion``), and
no script is ever served from the model directory.  No TensorFlow here.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from kconvert.errors import KConvertError
from kconvert.formats.tfjs import COMPANION_FILE, MODEL_FILE
from kconvert.verification import tfjs_install
from kconvert.verification.tfjs_companion import vetted_companion
from kconvert.verification.tfjs_runner import _decode, _encode
from kconvert.writers.tfjs.companion import PACKAGED as COMPANION

#: the page script (beside the Node harness, so that it ships with it)
PAGE_SCRIPT = tfjs_install.PACKAGED / "browser.js"
BUNDLE = Path("node_modules") / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"
#: executables tried in order when ``$KCONVERT_CHROMIUM`` is not set
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: tfjs's backends in the stock bundle, best first: webgl where the browser has WebGL, else cpu
DEFAULT_BACKENDS = ("webgl", "cpu")
CONTENT_TYPES = {".js": "text/javascript", ".json": "application/json", ".html": "text/html; charset=utf-8"}
#: where the page gets kconvert's companion module: the packaged file, outside the model's URLs
COMPANION_URL = f"/kconvert/{COMPANION_FILE}"


class BrowserUnavailable(KConvertError):
    """No Chromium to run the page, or no tfjs bundle to serve it."""


class BrowserRunError(KConvertError):
    """The page failed (a script error, the model did not load) or did not report in time."""


@dataclass
class BrowserRun:
    outputs: list[np.ndarray]
    tfjs_version: str  # tf.version.tfjs as the page saw it
    backend: str  # the backend that computed: "webgl" or "cpu"
    device: str  # what the backend computed on: "JavaScript", or "WebGL 2: <renderer>"
    browser: str  # e.g. "Chromium 156.0.8078.114"
    companion: bool  # whether kconvert's companion module was loaded (the model's directory holds a copy)
    notes: list[str] = field(default_factory=list)  # backends that did not initialise, and why


def find_browser() -> str | None:
    """``$KCONVERT_CHROMIUM``, else the first of :data:`BROWSERS` on the PATH."""
    chosen = os.environ.get("KCONVERT_CHROMIUM")
    if chosen:
        return shutil.which(chosen)
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@functools.cache
def browser_version(browser: str) -> str:
    done = subprocess.run([browser, "--version"], capture_output=True, text=True, timeout=30)
    line = done.stdout.strip().splitlines()[0] if done.stdout.strip() else Path(browser).name
    return line.split(" built on ")[0]


def unavailable_reason() -> str | None:
    """None when models can be run in a browser; otherwise what is missing and how to get it."""
    if find_browser() is None:
        return ("Chromium is not installed (apt-get install chromium, or set KCONVERT_CHROMIUM to a Chromium or "
                "Chrome executable)")
    return tfjs_install.missing()


def tfjs_bundle() -> Path:
    """The stock ``tf.min.js`` of the pinned harness, installing the harness first when needed."""
    reason = tfjs_install.missing()
    if reason:
        raise BrowserUnavailable(reason)
    harness = tfjs_install.harness() or tfjs_install.install()
    if not (harness / BUNDLE).is_file():
        raise BrowserUnavailable(f"the TF.js harness at {harness} has no {BUNDLE}")
    return harness / BUNDLE


def run_in_browser(model_dir: str | os.PathLike[str], inputs: Sequence[np.ndarray], *,
                   backends: Sequence[str] = DEFAULT_BACKENDS, timeout: float = 120.0) -> BrowserRun:
    """Load the TF.js layers model in ``model_dir`` in headless Chromium and predict ``inputs``.

    The first of ``backends`` that initialises in the browser computes.  Raises
    :class:`BrowserUnavailable` without Chromium or tfjs, :class:`BrowserRunError` when the page
    fails or reports nothing within ``timeout`` seconds, :class:`ForeignCodeError` (before a browser
    starts) when the directory holds a ``kconvert-layers.js`` that is not kconvert's."""
    directory = Path(model_dir)
    if not (directory / MODEL_FILE).is_file():
        raise BrowserRunError(f"no {MODEL_FILE} in the directory", file=str(directory))
    companion = vetted_companion(directory) is not None
    browser = find_browser()
    if browser is None:
        raise BrowserUnavailable(unavailable_reason() or "Chromium is not installed")
    page = _Page(directory, tfjs_bundle(), [_encode(x) for x in inputs], list(backends), companion)
    server = _Server(page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory(prefix="kconvert-chromium-", ignore_cleanup_errors=True) as profile:
            result = _open(browser, f"http://127.0.0.1:{server.server_port}/", profile, server.reported, timeout)
    except BrowserRunError as exc:
        raise exc.with_context(file=str(directory)) from None
    finally:
        server.shutdown()
        server.server_close()
    if "error" in result:
        raise BrowserRunError(f"TF.js in {browser_version(browser)} failed: {result['error']}", file=str(directory))
    return BrowserRun([_decode(t) for t in result["outputs"]], result["tfjs"], result["backend"],
                      result.get("device", ""), browser_version(browser), companion, list(result.get("notes", [])))


def _open(browser: str, url: str, profile: str, reported: _Reported, timeout: float) -> dict[str, Any]:
    """Run headless Chromium on ``url`` until the page reports (or it exits, or time runs out);
    the browser and every process it started (its own process group) are ended either way."""
    args = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--enable-logging=stderr",
            url]
    log = Path(profile) / "chromium.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                   start_new_session=True)
        try:
            result = reported.wait(process, timeout)
        finally:
            _end(process)
    if result is not None:
        return result
    tail = _console_tail(log)
    if not reported.waited_out:
        raise BrowserRunError(f"{Path(browser).name} exited with status {process.returncode} before the page "
                              f"reported{tail}")
    raise BrowserRunError(f"the page in headless {Path(browser).name} reported nothing within {timeout:.0f} s{tail}")


def _end(process: subprocess.Popen[bytes]) -> None:
    """End the browser's process group: SIGTERM, then SIGKILL after 5 s."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue


def _console_tail(log: Path, lines: int = 3) -> str:
    """The page's last console lines (its logs and uncaught errors), to say why it stayed silent."""
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    kept = [line.split("] ", 1)[-1].strip() for line in text if ":CONSOLE" in line][-lines:]
    return f" (the page's console: {' | '.join(kept)})" if kept else " (the page logged nothing)"


@dataclass
class _Page:
    """What the server serves: the page, the scripts, the model directory and the inputs."""

    model_dir: Path
    bundle: Path
    inputs: list[dict[str, Any]]
    backends: list[str]
    companion: bool

    def html(self) -> bytes:
        config = json.dumps({"backends": self.backends}).replace("</", "<\\/")
        scripts = ["/tfjs/tf.min.js"] + ([COMPANION_URL] if self.companion else []) + ["/browser.js"]
        tags = "\n".join(f'<script src="{src}"></script>' for src in scripts)
        return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>kconvert: TF.js in the browser</title>
<script>
window.KCONVERT = {config};
// a script that throws as it loads fails the run with its own message
window.addEventListener("error", (e) => fetch("/result", {{method: "POST", body: JSON.stringify(
  {{error: `${{(e.filename || "").split("/").pop()}}:${{e.lineno}}: ${{e.message}}`}})}}));
</script>
{tags}
</head><body></body></html>
""".encode()

    def file(self, path: str) -> Path | None:
        """The file a GET of ``path`` serves, None for anything else (nothing outside the model directory)."""
        if path == "/tfjs/tf.min.js":
            return self.bundle
        if path == "/browser.js":
            return PAGE_SCRIPT
        if path == COMPANION_URL and self.companion:
            return COMPANION
        if path.startswith("/model/"):
            root = self.model_dir.resolve()
            target = (root / path[len("/model/"):]).resolve()
            if target.is_relative_to(root) and target.is_file():
                return target
        return None


class _Reported:
    """The first result the page POSTs."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.result: dict[str, Any] | None = None
        self.waited_out = False

    def give(self, result: dict[str, Any]) -> None:
        if not self._event.is_set():
            self.result = result
            self._event.set()

    def wait(self, process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any] | None:
        """Wait for the result while the browser runs; None when it exits or time runs out first."""
        deadline = time.monotonic() + timeout
        while not self._event.wait(0.2):
            if process.poll() is not None:
                return None
            if time.monotonic() >= deadline:
                self.waited_out = True
                return None
        return self.result


class _Server(ThreadingHTTPServer):
    """The page's server on a free port of 127.0.0.1."""

    daemon_threads = True

    def __init__(self, page: _Page) -> None:
        self.page = page
        self.reported = _Reported()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        page = self.server.page
        if path == "/":
            self._send(page.html(), CONTENT_TYPES[".html"])
        elif path == "/inputs.json":
            self._send(json.dumps(page.inputs).encode(), CONTENT_TYPES[".json"])
        elif (found := page.file(path)) is not None:
            self._send(found.read_bytes(), CONTENT_TYPES.get(found.suffix, "application/octet-stream"))
        else:
            self.send_error(404)

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/result":
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            result = json.loads(body)
        except ValueError:
            result = {"error": "the page posted a result that is not JSON"}
        self.server.reported.give(result if isinstance(result, dict) else {"error": "the page posted no object"})
        self.send_response(204)
        self.end_headers()

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a run's requests are no one's business."""
