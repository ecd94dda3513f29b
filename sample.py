"""Sample from a trained VAE: `python sample.py ckpt_path=PATH [overrides]`, the same as `vaelab-sample`.

Composes conf/sample.yaml; the model and its config come from the checkpoint (see vaelab/sample.py).
"""

from vaelab.cli.sample import main

if __name__ == "__main__":
    raise SystemExit(main())
