"""A run's lifecycle: train (instantiate, fit, test, records), the run directory and the resume
decision (rundir, resume), the checkpoint reader and its formats (checkpoint, formats), the
checkpoint callbacks' records (callback_state), the lock, signals and stopping rules, atomic files (io)."""
