"""The end of every Hydra multirun: vaelab-compare's files for the sweep, and its rate-distortion
plane as one more W&B run in the sweep's group.

The plane is that of Alemi et al. (2018), "Fixing a Broken ELBO", Fig. 1: every run a point
(R, D), rate R = KL(q(z|x) || p(z)) and distortion D = E_q[-log p(x|z)] (nats), on the lines
D + R = -ELBO = const (vaelab.compare.cli draws them in rate_distortion.png).

`SweepComparison` is a Hydra callback (conf/hydra/default.yaml, `hydra.callbacks`). It runs
`python -m vaelab.compare.sweep_callback SWEEP_DIR --group GROUP` in a child process, which
- writes SWEEP_DIR/comparison/ as `vaelab-compare SWEEP_DIR` does (sorted by test/nll);
- when the jobs logged to W&B (a job directory holds wandb/run-* or wandb/offline-run-*),
  starts a W&B run in their project and group, job_type "comparison", in their mode, recorded in
  SWEEP_DIR/comparison/wandb, and logs a table of the runs (run, knobs, rate, distortion, elbo,
  state), a scatter of rate against distortion and the plane's PNG.
A child process, so that the W&B run cannot meet the jobs' W&B state in the sweep's process, and
so that it still runs at interpreter exit (see below). Its failure is a warning: the sweep's
results and exit code are the jobs'.

Hydra calls `on_multirun_end` only when every job succeeded: when one fails, the sweeper raises
after the jobs of its batch have run. The comparison of such a sweep is made at interpreter exit
instead (atexit, registered at `on_multirun_start`), unless on_multirun_end has made it.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback

from vaelab.compare.cli import compare
from vaelab.compare.plots import plane_points
from vaelab.compare.runs import find_runs, metrics_found, run_label, swept_knobs
from vaelab.errors import ConfigError, exit_code
from vaelab.logger.sweep import sweep_group

log = logging.getLogger(__name__)


class SweepComparison(Callback):
    """Writes SWEEP_DIR/comparison/ (and the W&B comparison run) when a multirun ends."""

    def __init__(self, timeout: float = 600.0) -> None:
        self.timeout = timeout
        self.sweep_dir: Path | None = None
        self.group = ""
        self.done = False

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        try:
            # Resolving ${now:...} here caches it in the config, and Hydra copies that cache into
            # every job's config: this is the directory the jobs are written to.
            self.sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
            self.group = sweep_group(config.hydra.job.name, self.sweep_dir)
        except Exception as err:  # a comparison is never worth failing a sweep for
            log.warning("No comparison for this sweep: its directory does not resolve (%s)", err)
            return
        atexit.register(self.on_exit)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        atexit.unregister(self.on_exit)
        self.compare()

    def on_exit(self) -> None:
        """A sweep that raised (a failed job) skips on_multirun_end: compare what its jobs left."""
        self.compare()

    def compare(self) -> None:
        if self.done or self.sweep_dir is None or not self.sweep_dir.is_dir():
            return  # done already, or the sweep failed before it wrote anything
        self.done = True
        cmd = [sys.executable, "-m", "vaelab.compare.sweep_callback", str(self.sweep_dir), "--group", self.group]
        try:
            # stdout (the table) goes to the console; stderr (W&B's chatter) only into a failure's warning.
            child = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, timeout=self.timeout)
        except (OSError, subprocess.SubprocessError, KeyboardInterrupt) as err:  # Ctrl-C: the jobs are done
            log.warning("The comparison of sweep %s failed: %s", self.sweep_dir, repr(err))
            return
        if child.returncode != 0:
            lines = [line for line in child.stderr.splitlines() if line.strip()]
            log.warning(
                "The comparison of sweep %s failed: %s", self.sweep_dir, lines[-1] if lines else child.returncode
            )
        else:
            log.info("Comparison of the sweep: %s", self.sweep_dir / "comparison")


def wandb_mode(runs: list[dict[str, Any]]) -> str | None:
    """The jobs' W&B mode, from what they left in <run dir>/wandb/: online runs leave run-*,
    offline ones offline-run-*; None when no job logged to W&B."""
    dirs = [r["dir"] / "wandb" for r in runs if (r["dir"] / "wandb").is_dir()]
    if any(next(d.glob("run-*"), None) for d in dirs):
        return "online"
    if any(next(d.glob("offline-run-*"), None) for d in dirs):
        return "offline"
    return None


def wandb_settings(runs: list[dict[str, Any]]) -> dict[str, str]:
    """project and entity of the jobs' W&B runs, from the first W&B job's resolved config.yaml."""
    for r in runs:
        if (r["dir"] / "wandb").is_dir():
            try:
                config = yaml.safe_load((r["dir"] / "config.yaml").read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            logger = ((config or {}).get("logger") or {}).get("wandb") or {}
            return {k: logger[k] for k in ("project", "entity") if isinstance(logger.get(k), str)}
    return {}


def log_to_wandb(runs, sweep_dir: Path, out: Path, group: str, mode: str, split: str) -> None:
    """One W&B run, job_type "comparison", in the jobs' group: the table of the runs, the
    scatter of rate against distortion, the PNG of the plane."""
    import wandb

    knobs = swept_knobs(runs)
    table = wandb.Table(columns=["run", "knobs", "rate", "distortion", "elbo", "state"])
    for r in runs:
        point = plane_points([r], split, knobs)  # [] for a run without the plane's metrics
        rate, distortion = point[0][1:] if point else (None, None)
        elbo = r["metrics"].get(f"{split}/elbo") if point else None
        table.add_data(str(r["dir"].relative_to(sweep_dir)), run_label(r, knobs), rate, distortion, elbo, r["state"])
    run = wandb.init(
        **wandb_settings(runs),
        group=group,
        job_type="comparison",
        name=f"{group}-comparison",
        dir=str(out),
        mode=mode,
        config={"sweep_dir": str(sweep_dir), "split": split},
    )
    try:
        run.log(
            {
                "runs": table,
                "rate_distortion": wandb.plot.scatter(table, "rate", "distortion", title="rate-distortion"),
                "rate_distortion_plane": wandb.Image(str(out / "rate_distortion.png")),
            }
        )
    finally:
        run.finish()


def publish(sweep_dir: Path, group: str) -> Path:
    """vaelab-compare's files for the sweep, then the W&B comparison run if the jobs logged to W&B."""
    runs = find_runs([sweep_dir])
    found = metrics_found(runs)
    if not found:
        raise ConfigError("no run of the sweep left metrics; nothing to compare")
    metric, mode = ("test/nll", "min") if "test/nll" in found else ("val/elbo", "max")  # test: false
    split = "test" if "test/kl" in found else "val"
    out = compare([str(sweep_dir)], metric=metric, mode=mode, split=split)
    wandb = wandb_mode(runs)
    if wandb is not None:
        log_to_wandb(runs, sweep_dir, out, group, wandb, split)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vaelab.compare.sweep_callback", description=__doc__.splitlines()[0]
    )
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--group", required=True, help="the W&B group of the sweep's jobs")
    args = parser.parse_args(argv)
    return exit_code(publish, args.sweep_dir, args.group)


if __name__ == "__main__":
    raise SystemExit(main())
