import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
runs = {"VAE, N(0, I) prior": sys.argv[1], "VAE, VampPrior (500)": sys.argv[2]}
fig, ax = plt.subplots(figsize=(7, 4))
for label, path in runs.items():
    rows = [json.loads(l) for l in open(path)]
    ax.plot([r["epoch"] + 1 for r in rows], [r["val/loss"] for r in rows], label=label)
for value, name in ((228.70, "paper, N(0, I): 228.70 (test NLL)"), (227.35, "paper, VampPrior: 227.35 (test NLL)")):
    ax.axhline(value, ls="--", lw=0.8, color="grey")
    ax.text(200 if "Vamp" in name else 2, value - 0.6, name, fontsize=7, color="grey", va="top", ha="right" if "Vamp" in name else "left")
ax.set_ylim(220, 280)
ax.set_xlabel("epoch (KL warm-up over the first 100)")
ax.set_ylabel("val/loss = -ELBO (nats), 10k validation images")
ax.set_title("Fashion-MNIST density protocol, partial budget (1 CPU core each)", fontsize=10)
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[3], dpi=110)
