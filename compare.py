"""Compare runs: `python compare.py folders=DIR [overrides]`, the same as `vaelab-compare`.

Composes conf/compare.yaml; see vaelab/compare/cli.py.
"""

from vaelab.compare.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
