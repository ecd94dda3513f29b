"""Comparing runs: reading their directories (runs), tables and plots (cli, plots), a
disentanglement study's plots (study), and the comparison a multirun writes when it ends
(sweep_callback). vaelab-compare is `vaelab.compare.cli:main`, a Hydra app (conf/compare.yaml)."""
