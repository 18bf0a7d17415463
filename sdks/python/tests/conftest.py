"""Test helpers: drive a plugin as a real subprocess over Content-Length framed JSON-RPC.

The harness has its own strict frame parser (not the SDK's): every byte the plugin writes to stdout must be a
well-formed frame, anything else is recorded in ``stdout_garbage`` (tests assert it stays empty).
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SDK_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(SDK_DIR))
PLUGINS = os.path.join(HERE, "plugins")

sys.path.insert(0, SDK_DIR)


def plugin_env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = SDK_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PLUGD_LOG_LEVEL", None)
    if extra:
        env.update(extra)
    return env


def frame(msg):
    body = msg if isinstance(msg, bytes) else json.dumps(msg).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class PluginProcess:
    def __init__(self, script, args=(), env=None, python_args=("-u",)):
        self.proc = subprocess.Popen(
            [sys.executable, *python_args, script, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=plugin_env(env), cwd=os.path.dirname(script),
        )
        self.messages = queue.Queue()
        self.stdout_garbage = b""
        self._stderr = []
        self._stderr_lock = threading.Lock()
        self.notifications = []  # every notification seen by wait_response, in order
        self.requests = []  # plugin -> host requests seen by wait_response
        self._next_id = 1000
        self._early = {}  # responses that arrived while waiting for another one
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # -- io -----------------------------------------------------------------------------------------------------
    def _read_stdout(self):
        out = self.proc.stdout
        while True:
            line = out.readline()
            if not line:
                self.messages.put(None)
                return
            if not line.startswith(b"Content-Length: ") or not line.endswith(b"\r\n"):
                self.stdout_garbage += line
                continue
            n = int(line[len(b"Content-Length: "):-2])
            blank = out.readline()
            if blank != b"\r\n":
                self.stdout_garbage += line + blank
                continue
            body = out.read(n)
            self.messages.put(json.loads(body.decode("utf-8")))

    def _read_stderr(self):
        for line in iter(self.proc.stderr.readline, b""):
            with self._stderr_lock:
                self._stderr.append(line.decode("utf-8", "replace"))

    @property
    def stderr(self):
        with self._stderr_lock:
            return "".join(self._stderr)

    def wait_stderr(self, text, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stderr:
                return True
            time.sleep(0.01)
        raise AssertionError("%r not in stderr:\n%s" % (text, self.stderr))

    def send(self, msg):
        self.send_raw(frame(msg))

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv(self, timeout=5):
        try:
            msg = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message within %ss; stderr:\n%s" % (timeout, self.stderr)) from None
        if msg is None:
            self.messages.put(None)
            raise AssertionError("plugin closed stdout; stderr:\n%s" % self.stderr)
        return msg

    # -- rpc ----------------------------------------------------------------------------------------------------
    def request(self, method, params=None, id=None):
        if id is None:
            self._next_id += 1
            id = self._next_id
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return id

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def wait_response(self, id, timeout=5, on_request=None):
        """Reads until the response with this id; notifications are collected (returned and in
        self.notifications); plugin->host requests go to on_request(msg) (default: recorded, unanswered)."""
        notes = []
        if id in self._early:
            return self._early.pop(id), notes
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.01, deadline - time.monotonic()))
            if "method" in msg and "id" not in msg:
                notes.append(msg)
                self.notifications.append(msg)
            elif "method" in msg:
                self.requests.append(msg)
                if on_request is not None:
                    on_request(msg)
            elif msg.get("id") == id:
                return msg, notes
            else:  # the answer to another request, which finished first: keep it for its wait_response
                self._early[msg.get("id")] = msg

    def call(self, method, params=None, timeout=5, on_request=None):
        msg, _ = self.wait_response(self.request(method, params), timeout, on_request)
        return msg

    def handshake(self, config=None, version="1.0", plugin_id="test"):
        res = self.call("plugin/handshake", {
            "protocolVersion": version, "host": {"name": "pytest", "version": "0"},
            "plugin": {"id": plugin_id, "config": config or {}}, "supportsReverseRpc": True})
        return res

    def invoke(self, entry, input=None, run_id=None, timeout=5, on_request=None):
        id = self.request("plugin/invoke", {"runId": run_id or "run-%d" % (self._next_id + 1), "entry": entry,
                                            "input": {} if input is None else input})
        return self.wait_response(id, timeout, on_request)

    def respond(self, id, result=None, error=None):
        msg = {"jsonrpc": "2.0", "id": id}
        if error is not None:
            msg["error"] = error
        else:
            msg["result"] = result
        self.send(msg)

    def wait_exit(self, timeout=5):
        return self.proc.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for s in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                s.close()
            except Exception:
                pass


@pytest.fixture
def spawn():
    procs = []

    def start(script, **kw):
        if not os.path.isabs(script):
            script = os.path.join(PLUGINS, script)
        p = PluginProcess(script, **kw)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.close()


@pytest.fixture
def kitchen(spawn):
    """The kitchen-sink test plugin, handshaken."""
    p = spawn("kitchen.py")
    res = p.handshake(config={"greeting": {"prefix": "Hi"}})
    assert "result" in res, res
    return p
