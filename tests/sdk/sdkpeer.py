"""The official ConnectyCube JS SDK as a test peer: a Node process running
tests/sdk/harness/harness.cjs, driven over JSON lines (the protocol is described there).

One process per SDK user (the SDK keeps its configuration in a module-level singleton).
A reader thread collects the process's output: replies go to the waiting request, listener
callbacks to :attr:`SdkPeer.events`, raw XML traffic to a bounded log that failure messages
quote.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HARNESS_DIR = Path(__file__).resolve().parent / "harness"
HARNESS = HARNESS_DIR / "harness.cjs"
REPO_ROOT = HARNESS_DIR.parents[2]
NODE_DEPS = REPO_ROOT / "scripts" / "node-deps.sh"

#: The SDK version the lockfile pins; the harness reports what it loaded and we check it.
SDK_VERSION = "6.1.2"

#: Bound on one harness request (connect included) and on waiting for one listener call.
REQUEST_TIMEOUT_S = 20.0
WAIT_S = 10.0


class SdkError(AssertionError):
    """The SDK peer failed or did not do what the test expected (a test failure)."""


class JsUndefined:
    """JavaScript ``undefined`` as the harness reports it (distinct from ``null``)."""

    _instance: JsUndefined | None = None

    def __new__(cls) -> JsUndefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = JsUndefined()


@dataclass(frozen=True)
class XmlValue:
    """An XML element the SDK passed to a listener (e.g. ``message.delay``)."""

    xml: str


def from_wire(value: Any) -> Any:
    """Decode the harness's tagged values (``{"__js__": "undefined"}`` ...)."""
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, tag),) = value.items()
            if key == "__js__":
                if tag == "undefined":
                    return UNDEFINED
                if tag == "NaN":
                    return float("nan")
                if tag in ("Infinity", "-Infinity"):
                    return float(tag.replace("Infinity", "inf"))
                return f"<js {tag}>"
            if key == "__xml__":
                return XmlValue(tag)
            if key == "__error__":
                return SdkError(tag)
        return {k: from_wire(v) for k, v in value.items()}
    return value


def to_wire(value: Any) -> Any:
    """Encode Python values for the harness (``UNDEFINED`` and non-finite floats tagged)."""
    if value is UNDEFINED:
        return {"__js__": "undefined"}
    if isinstance(value, float) and value != value:
        return {"__js__": "NaN"}
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return {"__js__": "Infinity" if value > 0 else "-Infinity"}
    if isinstance(value, Mapping):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    return value


@dataclass(frozen=True)
class SdkEvent:
    """One listener callback: the listener's name and its arguments."""

    name: str
    args: list[Any]


def node_unavailable_reason() -> str | None:
    """Why the SDK cannot run here (no node, packages not installable), or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (HARNESS_DIR / "node_modules" / "connectycube").is_dir():
        if shutil.which("npm") is None:
            return "npm is not installed"
        done = subprocess.run(
            [str(NODE_DEPS)], capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0:
            return f"scripts/node-deps.sh failed: {(done.stdout + done.stderr).strip()}"
    return None


class SdkPeer:
    """One Node process running the SDK, with one SDK user once connected."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[SdkEvent] = []
        self.xml_log: deque[tuple[str, str]] = deque(maxlen=60)
        self.stderr_log: deque[str] = deque(maxlen=40)
        self._exited = False
        self._proc = subprocess.Popen(
            ["node", str(HARNESS)],
            cwd=HARNESS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env={**os.environ, **(env or {})},
        )
        self._ready = threading.Event()
        self.sdk_version: str | None = None
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if not self._ready.wait(REQUEST_TIMEOUT_S):
            self.close()
            raise SdkError(f"the harness did not start: {self._diagnostics()}")

    # -- plumbing ------------------------------------------------------------------

    def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            msg = json.loads(line)
            kind = msg.get("type")
            with self._changed:
                if kind == "ready":
                    self.sdk_version = msg["sdk"]
                    self._ready.set()
                elif kind == "reply":
                    self._replies[msg["id"]] = msg
                elif kind == "event":
                    self.events.append(SdkEvent(msg["name"], from_wire(msg["args"])))
                elif kind == "xml":
                    self.xml_log.append((msg["dir"], msg["xml"]))
                else:
                    self.stderr_log.append(line.rstrip())
                self._changed.notify_all()
        with self._changed:
            self._exited = True
            self._changed.notify_all()

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self.stderr_log.append(line.rstrip())

    def _diagnostics(self) -> str:
        traffic = "\n".join(f"  SDK {d}: {x}" for d, x in list(self.xml_log)[-15:])
        errors = "\n".join(f"  stderr: {s}" for s in list(self.stderr_log)[-10:])
        return f"\n{traffic}\n{errors}"

    def request(self, op: str, timeout: float = REQUEST_TIMEOUT_S, **args: Any) -> Any:
        """Run one harness op; return its value or raise SdkError with the SDK's error."""
        rid = next(self._ids)
        line = json.dumps({"id": rid, "op": op, **to_wire(args)}) + "\n"
        assert self._proc.stdin is not None
        self._proc.stdin.write(line)
        self._proc.stdin.flush()
        deadline = time.monotonic() + timeout
        with self._changed:
            while rid not in self._replies:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._exited:
                    raise SdkError(f"no reply to {op} {args!r}{self._diagnostics()}")
                self._changed.wait(remaining)
            reply = self._replies.pop(rid)
        if not reply["ok"]:
            raise SdkError(f"SDK {op} failed: {reply['error']}{self._diagnostics()}")
        return from_wire(reply["value"])

    # -- the SDK's calls -------------------------------------------------------------

    def call(self, path: str, *args: Any, wait: bool = True) -> Any:
        """Call ``ConnectyCube.<path>(*args)`` (awaited unless ``wait`` is false)."""
        return self.request("call", path=path, args=list(args), **{"await": wait})

    def init_chat(self, **config: Any) -> None:
        self.request("init", **config)

    def connect(self, user_id: int, password: str) -> None:
        if self.request("connect", userId=user_id, password=password) is not True:
            raise SdkError("chat.connect did not resolve true")

    def wait_event(
        self,
        name: str,
        predicate: Callable[[list[Any]], bool] = lambda _a: True,
        timeout: float = WAIT_S,
    ) -> list[Any]:
        """Arguments of the first not-yet-taken call of listener ``name`` matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for i, event in enumerate(self.events):
                    if event.name == name and predicate(event.args):
                        del self.events[i]
                        return event.args
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._exited:
                    seen = ", ".join(e.name for e in self.events) or "none"
                    raise SdkError(
                        f"the SDK's {name} was not called as expected in {timeout} s "
                        f"(unclaimed listener calls: {seen}){self._diagnostics()}"
                    )
                self._changed.wait(remaining)

    def take(self, name: str) -> list[list[Any]]:
        """Remove and return the arguments of every call of ``name`` so far."""
        with self._lock:
            taken = [e.args for e in self.events if e.name == name]
            self.events = [e for e in self.events if e.name != name]
            return taken

    def close(self) -> None:
        """Disconnect (best effort) and end the process."""
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
