"""Where an Optuna study lives (`hydra.sweeper.storage`), and the lock its workers ask under.

    sqlite:///PATH                       SQLite file (default: optuna.db in the sweep directory);
                                         workers on one machine
    journal:///PATH                      Optuna's journal file (JournalStorage + JournalFileBackend):
                                         workers on any machines that share the file system
    postgresql://USER@HOST:PORT/DB       PostgreSQL through SQLAlchemy and psycopg 3: workers on
                                         any machines that reach the database. Keep the password
                                         out of the URL (it is recorded in .hydra/hydra.yaml):
                                         psycopg reads PGPASSWORD or ~/.pgpass.

Why a lock: `n_trials` is the size of the whole study, so a worker counts the study's trials
and asks for the next only while fewer than n_trials exist. Optuna's `ask` is atomic, the count
then ask is not: two workers could both see n_trials - 1 and make n_trials + 1. Under the lock
the trials a worker asks for also get consecutive numbers, which Hydra uses as job numbers. The
lock is PostgreSQL's advisory lock for a database, and for a file an exclusive lock file
(Optuna's JournalFileOpenLock, made for NFS): `<file>.ask.lock`. Creating the tables of a new
database and the study happen under it too (two workers starting at once would race there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vaelab.errors import ConfigError

FORMS = "sqlite:///FILE, journal:///FILE or postgresql://USER@HOST:PORT/DATABASE"
POSTGRES = ("postgresql://", "postgresql+psycopg://")


def shown(url: str) -> str:
    """The URL for messages and logs, without a password."""
    if url.startswith(POSTGRES):
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    return url


class Storage:
    """One `hydra.sweeper.storage` URL: `lock()` for asking, `open()` for Optuna's storage object."""

    def __init__(self, url: str | None) -> None:
        if not isinstance(url, str) or not url.startswith(("sqlite:///", "journal://", *POSTGRES)):
            raise ConfigError(f"hydra.sweeper.storage={url}: must be {FORMS} (a storage the trials can reach)")
        self.url = url
        self.path: Path | None = None  # the file of SQLite and journal storages
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            if path in ("", ":memory:"):
                raise ConfigError(f"hydra.sweeper.storage={url}: an in-memory database; must be {FORMS}")
            self.path = Path(path)
        elif url.startswith("journal://"):
            self.path = Path(url.removeprefix("journal://"))  # journal:///abs/file -> /abs/file
            if not self.path.name:
                raise ConfigError(f"hydra.sweeper.storage={url}: names no file; must be {FORMS}")
        else:
            # SQLAlchemy 2 reads postgresql:// as psycopg2's; vaelab installs psycopg 3.
            self.sqlalchemy_url = "postgresql+psycopg://" + url.split("://", 1)[1]

    def __str__(self) -> str:
        return shown(self.url)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Held by one worker of the study's storage at a time (see the module docstring)."""
        if self.path is None:
            import sqlalchemy

            # A session of its own, closed (so the lock freed) when the block ends or the worker dies.
            engine = sqlalchemy.create_engine(self.sqlalchemy_url, poolclass=sqlalchemy.pool.NullPool)
            key = int.from_bytes(hashlib.blake2b(b"vaelab.hparams_search", digest_size=8).digest(), "big", signed=True)
            try:
                with engine.begin() as connection:
                    connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                    yield
            finally:
                engine.dispose()
            return
        from optuna.storages.journal import JournalFileOpenLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = JournalFileOpenLock(f"{self.path}.ask")
        lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def open(self):
        """Optuna's storage object (for a new database, make its tables under `lock()`)."""
        import optuna

        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.url.startswith("journal://"):
            from optuna.storages.journal import JournalFileBackend

            return optuna.storages.JournalStorage(JournalFileBackend(str(self.path)))
        url = self.url if self.path is not None else self.sqlalchemy_url
        # pool_pre_ping: a worker waits for hours on a trial; the database may have closed its connection.
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True} if self.path is None else None)
