"""A throwaway MLflow tracking server for tests: `mlflow server` (the CLI of the installed
mlflow) with a PostgreSQL backend store (tests/helpers/postgres.py) and a local artifact root,
on a free port; stopped when the block ends.

Without job execution (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false: the GenAI jobs' worker
processes) and with one worker: the tests only log runs and read them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.postgres import free_port


@contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path, timeout: float = 180.0) -> Iterator[str]:
    """A running server over `backend_store_uri` keeping artifacts in `artifacts`; yields its URL."""
    port = free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(artifacts),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = artifacts.parent / "mlflow-server.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log.open("w") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start: {log.read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, 15)  # the server and the uvicorn worker it started
        server.wait(timeout=30)
