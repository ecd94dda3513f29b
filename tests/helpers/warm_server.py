"""The warm interpreter behind tests/helpers/warm.py: a process that has imported torch, Lightning,
Hydra and vaelab once, and forks a child per command it is sent.

A child is a process of its own, as `python train.py ...` would be: its own pid (signals reach
it), its own exit status, and stdin, stdout and stderr the ones the client passed (SCM_RIGHTS).
It takes the client's working directory, environment, PYTHONPATH and argv, then runs the
script or console script as `__main__` and exits the way an interpreter does (atexit handlers,
threads joined). Only the imports are shared, and those are what a fresh interpreter would do
first anyway; each start costs milliseconds instead of seconds of imports.

Run as `python warm_server.py SOCKET`. One request per connection: JSON {argv, cwd, env, script
or module} with three descriptors; the reply is {"pid": ...}, then {"status": ...} (exit code,
or minus the signal's number, as subprocess reports it) when the child ends.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import socket
import sys
import threading

# What every vaelab entry point imports before its first step (several seconds of a cold start).
# Not Hydra's plugin discovery: a child may have a plugin on its PYTHONPATH that the server has not.
PRELOAD = (
    "torch",
    "lightning.pytorch",
    "torchmetrics",
    "hydra",
    "omegaconf",
    "vaelab.cli.train",
    "vaelab.cli.evaluate",
    "vaelab.cli.sample",
    "vaelab.runs.train",
    "vaelab.system",
)


def _start_path_entries() -> list[str]:
    """This interpreter's sys.path without its script folder and without what PYTHONPATH added."""
    from_env = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    return [p for p in sys.path[1:] if os.path.abspath(p) not in from_env]


def _child(request: dict, fds: list[int], base_path: list[str]) -> None:
    """In the forked child: become the requested command, then exit as its interpreter would."""
    import runpy

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    extra = [os.path.abspath(p) for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    first = os.path.dirname(os.path.abspath(request["script"])) if request.get("script") else os.getcwd()
    sys.path[:] = [first, *extra, *base_path]
    sys.argv = list(request["argv"])
    threads = request["env"].get("OMP_NUM_THREADS")
    if threads and threads.isdigit():
        import torch

        torch.set_num_threads(int(threads))
    try:
        if request.get("script"):
            runpy.run_path(request["script"], run_name="__main__")
        else:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    finally:
        # What the command left goes out of the exit's collections too (vaelab's entry points
        # hand the objects they froze back to the collector at their end: vaelab.runs.collector).
        gc.freeze()
    raise SystemExit(0)


def serve(path: str) -> None:
    for name in PRELOAD:
        __import__(name)
    # What the imports made lives as long as any child: out of the collector's sight, a child's
    # collections (at exit above all) do not walk it, nor copy its pages (gc.freeze's purpose).
    gc.freeze()
    # fork() copies only the calling thread: a preload that left a thread running would leave its
    # locks held in every child.
    assert threading.active_count() == 1, threading.enumerate()
    # The children's signals as a terminal's interpreter has them, whatever this process inherited
    # (a shell that starts the tests in the background ignores SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in ("SIGTERM", "SIGUSR1", "SIGUSR2", "SIGHUP", "SIGPIPE"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    base_path = _start_path_entries()
    parent = os.getppid()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    waiting: dict[int, socket.socket] = {}  # child pid -> its client's connection
    while True:
        for key, _ in selector.select(timeout=0.02):
            conn, _ = key.fileobj.accept()
            message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            request = json.loads(message.decode())
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                selector.close()
                listener.close()
                for other in waiting.values():
                    other.close()
                conn.close()
                _child(request, fds, base_path)  # never returns: SystemExit ends the interpreter
            for fd in fds:
                os.close(fd)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            waiting[pid] = conn
        while waiting:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            conn = waiting.pop(pid, None)
            if conn is not None:
                try:
                    conn.sendall(json.dumps({"status": code}).encode() + b"\n")
                except OSError:  # the client has gone
                    pass
                conn.close()
        if os.getppid() != parent:  # the test process has gone: so does this one
            return


if __name__ == "__main__":
    serve(sys.argv[1])
