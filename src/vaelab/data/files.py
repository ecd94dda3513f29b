"""Data sets read from files: found on disk, else downloaded, else an error that says how to get them.

All the files of one data set are read from one directory (`source_dir`: the first of `dirs`
holding any of them). A directory holding some files but not the ones a stage needs is refused,
naming them, rather than completed from another directory: two directories can hold different
versions, and a test split from one with labels from the other is silently wrong data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vaelab.config.types import Bool
from vaelab.data.base import InMemoryDataModule, Split
from vaelab.errors import MissingFile


class FileDataModule(InMemoryDataModule):
    """Subclasses set `split_files`, and implement `read` (one split), `fetch` (the download) and `how_to_get`.

    Train and test are files of their own, so `setup("test")` reads (and asks for) the test files only.
    """

    #: The files of each split ("train", "test"), all read from one of `dirs` (`source_dir`).
    split_files: dict[str, tuple[str, ...]] = {}

    def __init__(self, data_dir: str, download: Bool = True, **kwargs):
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir).expanduser()
        self.download = download
        self.download_error: str | None = None  # why prepare_data could not download, for the error message

    @property
    def dirs(self) -> list[Path]:
        return [self.data_dir]

    def names(self, file: str) -> tuple[str, ...]:
        """The names `file` may have on disk, in order of preference."""
        return (file,)

    def _in(self, d: Path, file: str) -> Path | None:
        return next((d / n for n in self.names(file) if (d / n).is_file()), None)

    def source_dir(self) -> Path | None:
        """The first of `dirs` holding any file of the data set: every file is read from there."""
        return next((d for d in self.dirs if any(self._in(d, f) for f in self.files())), None)

    def find(self, file: str) -> Path | None:
        d = self.source_dir()
        return self._in(d, file) if d is not None else None

    def files(self, splits: Sequence[str] | None = None) -> list[str]:
        """The files of `splits` (default: all of them)."""
        return [f for s in (self.split_files if splits is None else splits) for f in self.split_files[s]]

    def missing(self, splits: Sequence[str] | None = None) -> list[str]:
        d = self.source_dir()
        return [f for f in self.files(splits) if d is None or self._in(d, f) is None]

    def read(self, split: str) -> Split:
        """One split, from its files (all found)."""
        raise NotImplementedError

    def load(self, splits: Sequence[str] | None = None) -> dict[str, Split]:
        self.require_files(splits)
        return {s: self.read(s) for s in (self.split_files if splits is None else splits)}

    def load_stage(self, stage: str | None) -> dict[str, Split]:
        return self.load(["test"] if stage == "test" else None)

    def fetch(self) -> None:
        """Download the files into `data_dir`."""
        raise NotImplementedError

    def how_to_get(self, missing: list[str]) -> list[str]:
        """Ways for a user to get the missing files, for the error message."""
        raise NotImplementedError

    def prepare_data(self) -> None:
        # A directory holding part of the data set is the user's to complete: require_files names
        # what it lacks. Downloading beside it would leave two sources, the situation refused.
        if not self.missing() or not self.download or self.source_dir() is not None:
            return
        try:
            self.fetch()
        except Exception as err:  # no network, mirror down, bad checksum, ...: require_files says what to do
            self.download_error = f"{type(err).__name__}: {err}"

    def require_files(self, splits: Sequence[str] | None = None) -> None:
        """Raise the one-line message naming the files of `splits` (default: all) that are missing."""
        missing = self.missing(splits)
        if not missing:
            return
        source = self.source_dir()
        if source is not None:
            held = [f for f in self.files() if f not in self.missing()]
            raise MissingFile(
                f"data={self.name}: files not found ({', '.join(missing)}) in {source}, which holds the data "
                f"set's other files ({', '.join(held)}); all files of a data set are read from one directory: "
                f"put the missing files into {source}, or point data.data_dir at a directory holding all of them"
            )
        if self.download_error:
            why = f"Download failed ({self.download_error}). "
        elif not self.download:
            why = "Download is off (data.download=false). "
        else:
            why = "Download was not attempted (prepare_data not run) or did not yield them. "
        raise MissingFile(
            f"data={self.name}: files not found ({', '.join(missing)}). "
            f"Looked in: {', '.join(map(str, self.dirs))}. {why}To get them: {'; or '.join(self.how_to_get(missing))}."
        )
