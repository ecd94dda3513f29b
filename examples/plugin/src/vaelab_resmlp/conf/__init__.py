"""The plugin's Hydra configs (model/resmlp.yaml, objective/mmd.yaml): pkg://vaelab_resmlp.conf."""
