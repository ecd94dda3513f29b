"""Hyperparameter search: vaelab's Optuna sweeper (Hydra plugin entry: hydra_plugins.vaelab_sweepers).

search_space  Hydra's sweep syntax (choice, interval, tag(log, ...), range) as Optuna distributions
storages      where a study lives (SQLite, journal file, PostgreSQL) and the lock workers ask under
workers       which worker runs a trial, its heartbeat, failing the trials of workers that are gone
sweeper       the ask-launch-tell loop
trial         inside a job: the trial it runs (for vaelab.callbacks.pruning)
"""
