"""The plots of a comparison: a metric against each knob, the validation curves, and the
rate-distortion plane (Alemi et al., 2018, Fig. 1) with its iso-ELBO lines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vaelab.compare.runs import number, run_label, swept_knobs, validation


def plane_points(runs: list[dict[str, Any]], split: str = "test", knobs: list[str] | None = None):
    """[(label, R, D)]: every run that is not broken and has finite `<split>/kl` (the rate R) and
    `<split>/recon` (the distortion D), in the runs' order; failed and broken runs have no point."""
    knobs = swept_knobs(runs) if knobs is None else knobs
    points = []
    for r in runs:
        rate, distortion = number(r["metrics"].get(f"{split}/kl")), number(r["metrics"].get(f"{split}/recon"))
        if r["state"] != "broken" and rate is not None and distortion is not None:
            points.append((run_label(r, knobs), rate, distortion))
    return points


def iso_elbo_levels(points, intervals: int = 4) -> list[float]:
    """Round values c of -ELBO = D + R for the lines D + R = c: evenly spaced by a step of 1, 2,
    2.5 or 5 times a power of ten (about `intervals` steps across the points), the first at or
    below the smallest R + D of the points, the last at or above the largest; [] without points."""
    sums = [rate + distortion for _, rate, distortion in points]
    if not sums:
        return []
    low, high = min(sums), max(sums)
    span = high - low if high > low else max(abs(high), 1.0) / 10  # one point: lines around it
    power = 10.0 ** math.floor(math.log10(span / intervals))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= span / intervals)
    digits = max(0, 1 - math.floor(math.log10(step)))  # enough for 2.5 * 10^k, to drop float noise
    first, last = math.floor(low / step), math.ceil(high / step)
    first -= round(first * step, digits) > low  # rounding must not lift a line above a point
    last += round(last * step, digits) < high
    last += last == first  # at least two lines
    return [round(k * step, digits) for k in range(first, last + 1)]


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(runs, knobs, metric, out: Path) -> list[Path]:
    """<metric>_vs_<knob>.png for every swept knob."""
    plt = pyplot()
    written = []
    runs = [r for r in runs if r["state"] != "broken"]
    done = [r for r in runs if isinstance(r["metrics"].get(metric), (int, float))]
    for knob in knobs:
        fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
        values = [r["knobs"].get(knob, "(default)") for r in done]
        try:
            xs = [float(v) for v in values]
        except ValueError:  # categorical knob (likelihood=..., model=...)
            order = sorted(set(values))
            xs = [order.index(v) for v in values]
            ax.set_xticks(range(len(order)), order, rotation=20)
        ax.scatter(xs, [r["metrics"][metric] for r in done])
        ax.set_xlabel(knob)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} against {knob}")
        fig.tight_layout()
        written.append(out / f"{metric.replace('/', '_')}_vs_{knob.replace('/', '_')}.png")
        fig.savefig(written[-1])
        plt.close(fig)
    return written


def curve_axis(runs) -> str:
    """What val_curves.png's x axis counts: "step" when some run validated more than once in an
    epoch (`trainer.val_check_interval`) and every row has a step; "epoch" otherwise."""
    histories = [r["history"] for r in runs if r["state"] != "broken"]
    steps = all(validation(row)[0] == "step" for rows in histories for row in rows)
    several = any(len({row["epoch"] for row in rows}) < len(rows) for rows in histories)
    return "step" if steps and several else "epoch"


def plot_curves(runs, knobs, curve: str, out: Path) -> Path:
    """val_curves.png: `curve` against the epoch (or the step, curve_axis), one line per run that is not broken."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    axis = curve_axis(runs)
    styles = ("-", "--", ":", "-.")  # the colour cycle has 10 colours: the 11th line on gets the next style
    for r in runs:
        if r["state"] == "broken":
            continue
        points = [(row[axis], row[curve]) for row in r["history"] if isinstance(row.get(curve), (int, float))]
        if points:
            style = styles[len(ax.lines) // 10 % len(styles)]
            ax.plot(*zip(*points), style, marker=".", label=run_label(r, knobs))
    ax.set_xlabel(axis)
    ax.set_ylabel(curve)
    ax.set_title(f"validation curves: {curve}")
    if ax.lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "val_curves.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_plane(points, split: str, out: Path) -> Path:
    """rate_distortion.png: the points (label, R, D) and the iso-ELBO lines D = c - R (Alemi et al.,
    2018, Fig. 1), c from iso_elbo_levels."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=100)
    if points:
        rates, distortions = [p[1] for p in points], [p[2] for p in points]
        ax.scatter(rates, distortions, zorder=3)
        for label, rate, distortion in points:
            ax.annotate(label, (rate, distortion), xytext=(4, 4), textcoords="offset points", fontsize=7)
        # The view: rate from 0 (R >= 0), a margin around the points; the lines are drawn across it.
        r_low, r_high = min(0.0, *rates), max(rates)
        r_high += (r_high - r_low) * 0.2 or 1.0
        d_low, d_high = min(distortions), max(distortions)
        margin = (d_high - d_low) * 0.15 or max(abs(d_high) * 0.05, 1.0)
        d_low, d_high = d_low - margin, d_high + margin
        ax.set_xlim(r_low, r_high)
        ax.set_ylim(d_low, d_high)
        ax.autoscale(False)
        for level in iso_elbo_levels(points):
            ax.plot([r_low, r_high], [level - r_low, level - r_high], "--", color="0.6", lw=0.8, zorder=1)
            left, right = max(r_low, level - d_high), min(r_high, level - d_low)  # where it runs in view
            if left < right:
                mid = (left + right) / 2
                ax.text(
                    mid,
                    level - mid,
                    f"-ELBO = {level:g}",
                    rotation=-45,
                    rotation_mode="anchor",
                    transform_rotates_text=True,  # -45 degrees in data units: along the line
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color="0.4",
                )
    else:
        ax.text(0.5, 0.5, f"no run has {split}/kl and {split}/recon", transform=ax.transAxes, ha="center")
    ax.set_xlabel("rate R = KL (nats)")
    ax.set_ylabel("distortion D = -E log p(x|z) (nats)")
    ax.set_title(f"rate-distortion plane ({split}); dashed: D + R = -ELBO")
    fig.tight_layout()
    path = out / "rate_distortion.png"
    fig.savefig(path)
    plt.close(fig)
    return path
