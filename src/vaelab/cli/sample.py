"""vaelab-sample: new data from a trained model, from its checkpoint alone.

    vaelab-sample ckpt_path=PATH [n=64] [seed=0] [temperature=1.0] [sampler=prior|gmm]
                  [sampler.n_components=10] [interpolate=false pairs=8 steps=10]
                  [data.data_dir=... any.config.key=value]

A Hydra app (conf/sample.yaml; `python sample.py` runs the same; -m sweeps, e.g. over
temperature=0.5,0.8,1.0). The model and its whole config come from the checkpoint, changed by
the command line as for vaelab-eval (vaelab.runs.checkpoint). Draws n codes z from the sampler
(conf/sampler: the model's prior, or `gmm`, a Gaussian mixture fitted to the training codes,
Ghosh et al. 2020), with their standard deviation scaled by `temperature`, decodes them to the
likelihood's mean and writes samples.png (a grid) and samples.npy (n, *data_shape) into the
output directory (hydra.run.dir; by default <run>/samples/<time> beside the checkpoint's run).
With interpolate=true it instead encodes pairs of test images and writes the linear and
spherical paths between them (PNG grids and .npy).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from vaelab.cli.apps import app_settings, from_command_line, run_app
from vaelab.conf import CONF_DIR
from vaelab.config import schema, targets
from vaelab.config.composition import task_started
from vaelab.errors import ConfigError, reported
from vaelab.runs import collector
from vaelab.runs.checkpoint import load_model
from vaelab.runs.io import make_dir


def sample(cfg: DictConfig) -> list[Path]:
    """Write samples (or interpolations) of cfg.ckpt_path's model; `cfg` is conf/sample.yaml as
    Hydra composed it (HydraConfig set). Returns the files written."""
    # Imported here, not above: `vaelab-sample --help` and a refused command line need none of them.
    import numpy as np
    import torch
    from hydra.core.hydra_config import HydraConfig

    from vaelab.callbacks import pictures

    collector.imported()  # torch and Lightning are in: not walked again (vaelab.runs.collector)
    settings = app_settings(cfg, "sample", schema.SampleApp)
    n, temperature, interpolate = settings["n"], settings["temperature"], settings["interpolate"]
    if interpolate and (temperature != 1.0 or settings["sampler"]["_target_"] != "vaelab.samplers.PriorSampler"):
        raise ConfigError("interpolate=true decodes paths between encoded images: sampler and temperature do not apply")
    out = Path(HydraConfig.get().runtime.output_dir)
    groups, overrides = from_command_line(cfg, "sample")
    trust = targets.Trust.of(settings["trust"])
    system, ckpt_cfg, _ = load_model(settings["ckpt_path"], overrides, groups, {"paths.output_dir": str(out)}, trust)
    model = system.vae
    collector.started()
    sampler = targets.instantiate(settings["sampler"], path="sampler")
    make_dir(out, "hydra.run.dir")
    torch.manual_seed(settings["seed"])
    written: list[Path] = []
    with torch.no_grad():
        if not interpolate:
            if sampler.needs_data:
                datamodule = targets.instantiate(ckpt_cfg.data, path="data", trust=trust)
                datamodule.setup("fit")  # the train split: the codes the sampler is fitted to
                sampler.fit(model, datamodule)
            z = sampler.distribution(model, temperature).sample((n,)).to(model.device, torch.float32)  # (n, L)
            x = model.decode(z).mean  # (n, *data_shape)
            np.save(out / "samples.npy", x.cpu().numpy().astype(np.float32))
            written.append(out / "samples.npy")
            if model.is_image:
                written += pictures.save({"samples": pictures.sample_grid(x.cpu())}, out)
            if settings["quality"]["features"] != "none":
                from vaelab.quality.apps import score_samples

                # The GMM's data module holds the test split too; else one is made for it.
                test = (
                    datamodule if sampler.needs_data else targets.instantiate(ckpt_cfg.data, path="data", trust=trust)
                )
                cache = Path(ckpt_cfg.paths.data_dir) / "feature_nets"
                metrics = score_samples(x, test, "test", settings["quality"], cache, out)
                print("\n".join(f"{key}  {value:.4f}" for key, value in sorted(metrics.items())))
                written.append(out / "quality.json")
        else:
            pairs, steps = settings["pairs"], settings["steps"]
            datamodule = targets.instantiate(ckpt_cfg.data, path="data", trust=trust)
            datamodule.setup("test")
            x_test = datamodule.splits["test"][0]
            idx = torch.randperm(len(x_test))[: 2 * pairs]
            if len(idx) < 2 * pairs:
                raise ConfigError(f"pairs={pairs} needs {2 * pairs} test examples, the test split has {len(x_test)}")
            x_a, x_b = x_test[idx[:pairs]], x_test[idx[pairs:]]
            for mode in ("linear", "spherical"):
                path = model.interpolate(x_a, x_b, steps=steps, mode=mode)
                np.save(out / f"interpolations_{mode}.npy", path.numpy().astype(np.float32))
                written.append(out / f"interpolations_{mode}.npy")
                if model.is_image:
                    grid = pictures.interpolation_grid(x_a, path, x_b)
                    written += pictures.save({f"interpolations_{mode}": grid}, out)
    for path in written:
        print(path)
    return written


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="sample")
def app(cfg: DictConfig) -> None:
    task_started()  # Hydra composed the config: see vaelab.config.composition.run
    with reported(), collector.paused():  # the imports are most of the start (vaelab.runs.collector)
        sample(cfg)


def main(argv: list[str] | None = None) -> int:
    """The console script vaelab-sample (and sample.py): the Hydra app on argv (default sys.argv[1:])."""
    return run_app(app, "sample", argv)


if __name__ == "__main__":
    raise SystemExit(main())
