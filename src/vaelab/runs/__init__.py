"""A run's lifecycle: what a run directory holds and what a checkpoint may restore into it."""
