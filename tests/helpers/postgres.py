"""A throwaway PostgreSQL server for tests: `initdb` and `pg_ctl` (Debian's postgresql package,
installed by .ci/run) on a temporary directory and a free port, stopped and removed afterwards.

PostgreSQL refuses to run as root: where the tests run as root, the server runs as the
`postgres` system user (`runuser -u postgres --`), in a directory it owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN_DIRS = "/usr/lib/postgresql/*/bin"


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory that has initdb and pg_ctl, or None."""
    found = [d for d in Path("/").glob(BIN_DIRS.lstrip("/")) if (d / "initdb").is_file() and (d / "pg_ctl").is_file()]
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0) if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """A running server; yields its URL, postgresql://postgres@127.0.0.1:PORT/postgres (trust login)."""
    binaries = bin_dir()
    if binaries is None:
        raise FileNotFoundError(f"no PostgreSQL binaries in {BIN_DIRS} (apt-get install postgresql)")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="vaelab-pg-"))  # not under pytest's tmp: root-only mode 0700
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        postgres = pwd.getpwnam("postgres")
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
    data, port = root / "data", free_port()

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = (root / "server.log").read_text() if (root / "server.log").is_file() else ""
            raise RuntimeError(
                f"{' '.join(cmd[:2])} failed: {done.stderr.strip() or done.stdout.strip()} {log[-2000:]}"
            )

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        # fsync off: a test database need not survive a crash; the socket lives in our directory.
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """A new empty database on the server of `url`; its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"
