"""Make a configured data set present on disk: `python -m vaelab.data.prepare [data=NAME ...]`.

Runs the data module's own `prepare_data` (find, else download) and `setup`, so it
fails with the same message as training would. `make train` uses it before training.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from vaelab.config import targets
from vaelab.errors import report


def main(argv: list[str] | None = None, config_dir: str = "conf") -> int:
    overrides = list(sys.argv[1:] if argv is None else argv)
    try:
        with initialize_config_dir(str(Path(config_dir).resolve()), version_base="1.3"):
            cfg = compose("train", overrides=overrides)
        datamodule = targets.instantiate(cfg.data, path="data")
        datamodule.prepare_data()
        datamodule.setup("fit")
    except Exception as err:
        code = report(err)
        if code is None:
            raise
        return code
    sizes = ", ".join(f"{k} {len(v[0])}" for k, v in datamodule.splits.items())
    print(f"{cfg.data._target_}: {sizes}; example shape {list(datamodule.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
