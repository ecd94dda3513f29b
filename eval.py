"""Evaluate a trained VAE: `python eval.py ckpt_path=PATH [overrides]`, the same as `vaelab-eval`.

Composes conf/eval.yaml; the model and its config come from the checkpoint (see vaelab/evaluate.py).
"""

from vaelab.cli.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
