"""Hyperparameter search: an Optuna sweeper that resumes an interrupted study."""
