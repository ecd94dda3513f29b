"""Make a configured data set present on disk: `python -m vaelab.data.prepare [data=NAME ...]`.

Runs the data module's own `prepare_data` (find, else download) and `setup`, so it
fails with the same message as training would. `make train` uses it before training.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from vaelab.conf import CONF_DIR
from vaelab.config import targets
from vaelab.errors import exit_code


def main(argv: list[str] | None = None, config_dir: str = str(CONF_DIR)) -> int:
    return exit_code(prepare, list(sys.argv[1:] if argv is None else argv), config_dir)


def prepare(overrides: list[str], config_dir: str) -> None:
    with initialize_config_dir(str(Path(config_dir).resolve()), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    datamodule = targets.instantiate(cfg.data, path="data")
    datamodule.prepare_data()
    datamodule.setup("fit")
    sizes = ", ".join(f"{k} {len(v[0])}" for k, v in datamodule.splits.items())
    print(f"{cfg.data._target_}: {sizes}; example shape {list(datamodule.shape)}")


if __name__ == "__main__":
    sys.exit(main())
