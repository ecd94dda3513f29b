"""The names of vaelab's metrics, defined once; this module imports nothing heavy (no torch), so
that vaelab-compare can read them in an instant."""

#: The splits metrics are logged for, as `split/name`.
SPLITS = ("train", "val", "test")

#: Keys of the disentanglement scores (vaelab.metrics.disentanglement.evaluate_all; each also has a
#: `<metric>_seconds` timing, DCI one for its three), logged as `test/<key>` and `val/<key>`.
SCORE_KEYS = (
    "mig",
    "sap",
    "dci_disentanglement",
    "dci_completeness",
    "dci_informativeness",
    "factor_vae_score",
    "beta_vae_score",
)
