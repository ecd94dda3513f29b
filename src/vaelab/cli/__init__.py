"""The commands: vaelab-train, vaelab-eval and vaelab-sample as Hydra apps (apps: what eval and
sample share); vaelab-compare lives with the comparison code in vaelab.compare."""
