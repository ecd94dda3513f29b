"""`subprocess.run` and `subprocess.Popen` for vaelab's entry points, started from a warm interpreter.

A test that needs a process of its own (an exit status, a signal, a Ctrl-C, two processes on one
run, a sweep's command line) runs `python train.py ...`, `vaelab-eval ...` and the like through
`run` and `Popen` here. They are forked from one server per test process
(tests/helpers/warm_server.py) that has already imported torch, Lightning, Hydra and vaelab, so a
start costs milliseconds instead of the 6-8 s of a cold interpreter's imports. The child is a
real process with its own pid, environment, working directory, argv and file descriptors, and
it ends with the status the interpreter would give.

Anything else (`python -c`, pip, bash, `wandb`) runs as a plain subprocess, as do the tests whose
point is a cold interpreter (what `import vaelab` loads, the installed wheel).
`shims(folder)` writes `vaelab-train` and the other console scripts as forwarders to the server,
for commands that a shell runs (docs/extending.md's blocks).

Stdlib only at import: the shims import this module without torch.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER = Path(__file__).with_name("warm_server.py")
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRIPTS = {"vaelab-train", "vaelab-eval", "vaelab-sample", "vaelab-compare"}
SOCKET_VARIABLE = "VAELAB_TEST_WARM_SOCKET"

_server: subprocess.Popen | None = None
_socket_path: str | None = None


def _socket() -> str:
    """The server's socket, started on first use in this process and stopped when it exits."""
    global _server, _socket_path
    if _socket_path is not None and (_server is None or _server.poll() is None):
        return _socket_path  # a shim's server (see forward), or this process's own
    folder = Path(tempfile.mkdtemp(prefix="vaelab-warm-"))
    if len(str(folder)) > 90:  # a Unix socket's path has at most 107 bytes: a long TMPDIR does not fit
        folder = Path(tempfile.mkdtemp(prefix="vaelab-warm-", dir="/tmp"))
    _socket_path = str(folder / "socket")
    # Its own output goes to a file, never to pytest's pipes, which it must not hold open.
    with open(folder / "server.log", "w") as log:
        _server = subprocess.Popen(
            [sys.executable, str(SERVER), _socket_path], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    atexit.register(_server.kill)
    deadline = time.time() + 300
    while not os.path.exists(_socket_path):
        if _server.poll() is not None or time.time() > deadline:
            said = (folder / "server.log").read_text()[-3000:]
            raise RuntimeError(f"the warm test server did not start (exit status {_server.poll()}):\n{said}")
        time.sleep(0.05)
    return _socket_path


def request_for(cmd) -> dict | None:
    """The server's request for `cmd` if it is a vaelab entry point, else None (a plain subprocess)."""
    cmd = [str(c) for c in cmd]
    if cmd[0] == "/usr/bin/env" and len(cmd) > 1 and "=" not in cmd[1]:
        cmd = cmd[1:]  # `env python ...`, as `wandb agent` runs a sweep's command
    if cmd[0] == sys.executable and len(cmd) > 1:
        if cmd[1].endswith(".py"):
            return {"script": cmd[1], "argv": cmd[1:]}
        if cmd[1] == "-m" and cmd[2].startswith("vaelab"):
            return {"module": cmd[2], "argv": [cmd[2], *cmd[3:]]}
        return None
    if Path(cmd[0]).name in SCRIPTS and Path(cmd[0]).parent == BIN:
        return {"script": cmd[0], "argv": cmd}
    return None


class WarmProcess:
    """The part of subprocess.Popen's interface the tests use, for a child of the warm server."""

    def __init__(self, cmd, request: dict, *, cwd=None, env=None, stdin=None, stdout=None, stderr=None, text=False):
        self.args = cmd
        self.returncode: int | None = None
        request = {**request, "cwd": str(cwd or os.getcwd()), "env": dict(os.environ if env is None else env)}
        ours: list[int] = []  # descriptors opened here, closed once the child has its copies
        self.stdout = self.stderr = None

        def end(spec, target: int):
            if spec is None:
                return target, None
            if spec == subprocess.DEVNULL:
                fd = os.open(os.devnull, os.O_RDWR)
                ours.append(fd)
                return fd, None
            if spec == subprocess.PIPE:
                read, write = os.pipe()
                ours.append(write)
                return write, open(read, "r" if text else "rb")
            return (spec if isinstance(spec, int) else spec.fileno()), None

        fd_in, _ = end(subprocess.DEVNULL if stdin is None else stdin, 0)
        fd_out, self.stdout = end(stdout, 1)
        fd_err, self.stderr = (fd_out, None) if stderr == subprocess.STDOUT else end(stderr, 2)
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._conn.connect(_socket())
        socket.send_fds(self._conn, [json.dumps(request).encode()], [fd_in, fd_out, fd_err])
        for fd in ours:
            os.close(fd)
        self._replies = self._conn.makefile("rb")
        self.pid = json.loads(self._replies.readline())["pid"]

    def poll(self) -> int | None:
        if self.returncode is None:
            ready = selectors.DefaultSelector()
            ready.register(self._conn, selectors.EVENT_READ)
            if ready.select(timeout=0):
                self._read_status()
            ready.close()
        return self.returncode

    def _read_status(self) -> None:
        line = self._replies.readline()
        self.returncode = json.loads(line)["status"] if line else -signal.SIGKILL  # the server died
        self._replies.close()
        self._conn.close()

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                self._read_status()
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout) from None
        return self.returncode

    def communicate(self, input=None, timeout: float | None = None):
        assert input is None, "the warm processes take no input"
        deadline = None if timeout is None else time.time() + timeout
        pipes = {p: [] for p in (self.stdout, self.stderr) if p is not None}
        if pipes:
            ready = selectors.DefaultSelector()
            for pipe in pipes:
                os.set_blocking(pipe.fileno(), False)
                ready.register(pipe, selectors.EVENT_READ)
            while ready.get_map():
                left = None if deadline is None else deadline - time.time()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                for key, _ in ready.select(timeout=left):
                    chunk = os.read(key.fileobj.fileno(), 1 << 16)
                    if chunk:
                        pipes[key.fileobj].append(chunk)
                    else:
                        ready.unregister(key.fileobj)
            ready.close()
        self.wait(None if deadline is None else max(deadline - time.time(), 0.01))
        out = []
        for pipe in (self.stdout, self.stderr):
            if pipe is None:
                out.append(None)
                continue
            data = b"".join(pipes[pipe])
            out.append(data.decode() if "b" not in pipe.mode else data)
            pipe.close()
        return tuple(out)

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for pipe in (self.stdout, self.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()
        self.wait()


def Popen(cmd, **kwargs):  # noqa: N802 - subprocess.Popen's name and signature
    """subprocess.Popen, from the warm server when `cmd` is a vaelab entry point."""
    request = request_for(cmd)
    if request is None:
        return subprocess.Popen(cmd, **kwargs)
    return WarmProcess(cmd, request, **kwargs)


def run(cmd, *, capture_output=False, timeout=None, check=False, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run, from the warm server when `cmd` is a vaelab entry point."""
    if request_for(cmd) is None:
        return subprocess.run(cmd, capture_output=capture_output, timeout=timeout, check=check, **kwargs)
    if capture_output:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc = Popen(cmd, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def shims(folder: Path, env: dict[str, str]) -> None:
    """Console scripts in `folder` that forward to the warm server, put first on `env`'s PATH (the
    environment of a shell that runs them), with the server's socket."""
    _write_shims(folder, env, {name: str(BIN / name) for name in SCRIPTS})


def python_shim(folder: Path, env: dict[str, str]) -> Path:
    """A `python` in `folder`, first on `env`'s PATH, that runs vaelab's entry points (`python
    train.py ...`, `python -m vaelab...`) in the warm server: for a shell script that is told
    which Python to use (PYTHON=...). Anything else it runs with this interpreter, cold."""
    _write_shims(folder, env, {"python": sys.executable})
    return folder / "python"


def _write_shims(folder: Path, env: dict[str, str], targets: dict[str, str]) -> None:
    """Forwarders `folder/<name>` to the warm server for each name -> the program it stands for."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, program in targets.items():
        shim = folder / name
        # -S: no site-packages, so the forwarder starts in milliseconds; it needs only the stdlib.
        shim.write_text(
            f"#!{sys.executable} -S\n"
            f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            f"from tests.helpers.warm import forward\n"
            f"forward({program!r})\n"
        )
        shim.chmod(0o755)
    env[SOCKET_VARIABLE] = _socket()
    env["PATH"] = f"{folder}{os.pathsep}{env['PATH']}"


def forward(script: str) -> None:
    """A shim's body: run `script` with this process's argv, environment, folder and descriptors
    in the warm server, pass on SIGINT and SIGTERM, and exit with the child's status."""
    global _socket_path
    _socket_path = os.environ.pop(SOCKET_VARIABLE)
    os.environ["PATH"] = os.pathsep.join(os.environ["PATH"].split(os.pathsep)[1:])  # not the shims
    cmd = [script, *sys.argv[1:]]
    request = request_for(cmd)
    if request is None:  # not an entry point (the python shim's `python -c ...`): this interpreter, cold
        os.execv(sys.executable if script == sys.executable else script, cmd)
    proc = WarmProcess(cmd, request, stdin=0)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, _: os.kill(proc.pid, number))
    code = proc.wait()
    sys.exit(code if code >= 0 else 128 - code)
