"""The density table's validation curves (docs/density_val_curves.png) from the rows' history.jsonl
files in this folder: val/loss (= -ELBO on the 10k validation images) per epoch, one line per row,
with the paper's test NLL of each row as a dashed guide.

    python docs/results/density/plot.py docs/density_val_curves.png
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).parent
# experiment name: (label, the paper's test NLL; Norouzi et al., 2020)
ROWS = {
    "density_vae": ("VAE, N(0, I)", 228.70),
    "density_vae_vamp": ("VAE, VampPrior", 227.35),
    "density_hvae": ("HVAE, N(0, I)", 227.37),
    "density_hvae_vamp": ("HVAE, VampPrior", 226.72),
}

fig, ax = plt.subplots(figsize=(8, 4.5))
for name, (label, paper) in ROWS.items():
    path = HERE / f"{name}.history.jsonl"
    if not path.is_file():
        continue
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    (line,) = ax.plot([r["epoch"] + 1 for r in rows], [r["val/loss"] for r in rows], label=f"{label} (paper {paper})")
    ax.axhline(paper, ls="--", lw=0.7, color=line.get_color())
ax.set_ylim(220, 280)
ax.set_xlabel("epoch (KL warm-up over the first 100)")
ax.set_ylabel("val/loss = -ELBO (nats), 10k validation images")
ax.set_title("Fashion-MNIST density protocol, partial budgets; dashed: the paper's test NLL", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(sys.argv[1], dpi=110)
