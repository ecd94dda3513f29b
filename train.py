"""Train a VAE: `python train.py [overrides]`, the same as `vaelab-train`, e.g.
`python train.py objective.beta=4 likelihood=continuous_bernoulli` (see vaelab/cli/train.py)."""

from vaelab.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
