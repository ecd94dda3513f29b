"""vaelab-eval: the numbers and pictures of a trained model, from its checkpoint alone.

    vaelab-eval ckpt_path=PATH [split=test] [eval.num_samples=5000] [pictures=true]
                [data=mnist trainer=gpu logger=wandb ...] [data.data_dir=... any.config.key=value]
    vaelab-eval -m ckpt_path=a.ckpt,b.ckpt split=val,test      # one job each
    vaelab-eval ckpt_path=wandb:ENTITY/PROJECT/model-RUNID:best  # a W&B model artifact (online)
    vaelab-eval --help                                         # the settings and groups

A Hydra app (conf/eval.yaml; `python eval.py` runs the same). The model and its whole config
come from the checkpoint; a group named on the command line replaces the checkpoint's (data=mnist
scores a Fashion-MNIST model on MNIST) and any other key=value changes the checkpoint's config
(vaelab.runs.checkpoint). Runs the model's own test step over the split: the ELBO and its parts, the
importance-weighted NLL with K = eval.num_samples (Burda et al., 2016, eq. 8), bits per dimension,
active units, KL per dimension; writes metrics.json and the pictures into the output directory
(hydra.run.dir; by default <run>/eval/<split>-K<k>-<time> beside the checkpoint's run) and prints
a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from vaelab.cli.apps import app_settings, data_config, from_command_line, run_app
from vaelab.conf import CONF_DIR
from vaelab.config import schema, targets
from vaelab.config.composition import task_started
from vaelab.errors import reported
from vaelab.logger.wandb_checkpoints import fetch, is_artifact
from vaelab.runs import collector
from vaelab.runs.checkpoint import load_model
from vaelab.runs.io import make_dir, write_json


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score cfg.ckpt_path's model on cfg.split; `cfg` is conf/eval.yaml as Hydra composed it
    (HydraConfig set: the command line and the output directory come from it)."""
    # Imported here, not above: `vaelab-eval --help` and a refused command line need none of them.
    import lightning as L
    from hydra.core.hydra_config import HydraConfig
    from lightning.pytorch.callbacks import RichProgressBar

    from vaelab.callbacks import ImageGrids
    from vaelab.runs.train import check_data_fits, finish_loggers, instantiate_all

    collector.imported()  # torch and Lightning are in: not walked again (vaelab.runs.collector)
    settings = app_settings(cfg, "eval", schema.EvalApp)
    split, k, ckpt_path = settings["split"], settings["eval"]["num_samples"], settings["ckpt_path"]
    if is_artifact(ckpt_path):  # wandb:ENTITY/PROJECT/ARTIFACT:ALIAS: W&B online only
        ckpt_path = str(fetch(ckpt_path))
    out = Path(HydraConfig.get().runtime.output_dir)
    # The app's own values of the checkpoint's settings: K, the thresholds if given, where loggers write.
    changes = {"eval.num_samples": k, "paths.output_dir": str(out), "task_name": settings["task_name"]}
    changes |= {f"eval.{key}": settings["eval"][key] for key in ("active_threshold", "min_active_share")}
    changes = {key: value for key, value in changes.items() if value is not None}
    groups, overrides = from_command_line(cfg, "eval")
    trust = targets.Trust.of(settings["trust"])  # what the checkpoint's config may name (config.targets)
    system, ckpt_cfg, _ = load_model(ckpt_path, overrides, groups, changes, trust)
    # Before any work: each OOD set names a data config of a shape the model can score.
    ood_sets = {
        name: data_config(name, ckpt_cfg, (settings["ood_data_dirs"] or {}).get(name)) for name in settings["ood"]
    }
    if ood_sets:
        from vaelab.ood.inputs import check_fits

        for name, node in ood_sets.items():
            if node.get("shape") is not None:  # else read from the files, checked when they are
                check_fits(system.vae.data_shape, node.shape, f"ood={name}", settings["ood_resize"])
    make_dir(out, "hydra.run.dir")

    L.seed_everything(ckpt_cfg.seed, verbose=False)
    datamodule = targets.instantiate(ckpt_cfg.data, path="data", trust=trust)
    # The test split alone reads only the test files (MNIST, CIFAR-10); train and val need them all.
    datamodule.setup("test" if split == "test" else "fit")
    check_data_fits(system.vae.likelihood, datamodule, split, ckpt_cfg.data)

    # Loggers only when named (logger=wandb); they get the split's own keys after the test, not test/.
    loggers = instantiate_all(ckpt_cfg.logger, "logger") if "logger" in groups else []
    # A bar unless the run switched bars off (Lightning refuses a bar callback beside enable_progress_bar=false).
    callbacks = [RichProgressBar()] if ckpt_cfg.trainer.get("enable_progress_bar", True) is not False else []
    if settings["pictures"]:
        callbacks.append(ImageGrids(dirpath=str(out)))
    # The checkpoint's trainer settings (accelerator, precision, limit_test_batches), on one device.
    trainer = targets.instantiate(
        ckpt_cfg.trainer,
        path="trainer",
        trust=trust,
        devices=1,
        num_nodes=1,
        strategy="auto",
        logger=False,
        callbacks=callbacks,
        default_root_dir=str(out),
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    collector.started()
    try:
        # The model's test step computes everything; its keys say test/, renamed to the split evaluated.
        (results,) = trainer.test(system, dataloaders=datamodule.loader(split, train=False), verbose=False)
        metrics: dict[str, Any] = {key.replace("test/", f"{split}/", 1): v for key, v in results.items()}
        metrics.update({f"{split}/{key}": v for key, v in system.latent_report["test"].items()})
        metrics.update({"ckpt_path": str(Path(ckpt_path).resolve()), "split": split, "eval.num_samples": k})
        if settings["disentanglement"] != "none":  # on data with ground-truth factors only
            from vaelab.callbacks.disentanglement import scores

            fast = settings["disentanglement"] == "fast"
            # As the run scored its test split: its seed and DCI estimator (runs before the setting: gbt).
            run = OmegaConf.select(ckpt_cfg, "callbacks.disentanglement", default=None) or {}
            seed, estimator = int(run.get("seed", 0)), str(run.get("dci_estimator", "gbt"))
            found = scores(system.vae, datamodule, seed=seed, fast=fast, dci_estimator=estimator)
            metrics.update({f"{split}/{key}": value for key, value in found.items()})
            if found:
                from vaelab.metrics.disentanglement import suite

                metrics["disentanglement"] = {split: suite(seed=seed, fast=fast, dci_estimator=estimator)}
        if settings["ood"]:
            metrics.update(ood_report(system.vae, ckpt_cfg, datamodule, ood_sets, settings, out))
        if settings["quality"]["features"] != "none":
            metrics.update(quality_report(system.vae, ckpt_cfg, datamodule, split, settings["quality"], out))
        write_json(out / "metrics.json", metrics)
        log_to(loggers, ckpt_cfg, metrics, split, out)
    except BaseException:
        finish_loggers(loggers, {}, exit_code=1)
        raise
    finish_loggers(loggers, metrics, exit_code=0)
    print(table(metrics, title=f"{Path(ckpt_path).name}, {split} split, K = {k}"))
    print(f"metrics and pictures: {out}")
    return metrics


def ood_report(vae, ckpt_cfg, datamodule, ood_sets: dict[str, DictConfig], settings, out: Path) -> dict[str, float]:
    """vaelab.ood's scores of the in-distribution test split against each OOD set (data configs):
    their test splits in the model's data space (binarised as the model's data is, resized if asked)."""
    from vaelab import ood

    in_test, in_val = ood.in_distribution(datamodule)
    others = {}
    for name, node in ood_sets.items():
        source = targets.instantiate(node, path=f"ood={name}")
        others[name] = ood.ood_test_split(
            source,
            vae.data_shape,
            binarize=ckpt_cfg.data.get("binarize", "none"),
            resize_to_model=settings["ood_resize"],
            where=f"ood={name}",
        )
    # No logger here: the histograms are PNGs in `out`, which log_to sends with the other pictures.
    return ood.report(
        vae,
        in_test,
        in_val,
        others,
        num_samples=settings["eval"]["num_samples"],
        batch_size=int(ckpt_cfg.data.eval_batch_size),
        out_dir=out,
        seed=int(ckpt_cfg.seed),
        typicality_batch=settings["ood_typicality_batch"],
    )


def quality_report(vae, ckpt_cfg: DictConfig, datamodule, split: str, settings, out: Path) -> dict[str, float]:
    """vaelab.quality's numbers of prior samples (as many as the split has, or quality.num_samples)."""
    import torch

    from vaelab.quality.apps import score_samples

    n = settings["num_samples"] or len(datamodule.splits[split][0])
    with torch.random.fork_rng():
        torch.manual_seed(settings["seed"])
        samples = vae.sample(n)  # (n, *data_shape): decoded means of z ~ p(z)
    return score_samples(samples, datamodule, split, settings, Path(ckpt_cfg.paths.data_dir) / "feature_nets", out)


def log_to(loggers: list[Any], ckpt_cfg: DictConfig, metrics: dict[str, Any], split: str, out: Path) -> None:
    """The evaluated config, the split's scalar metrics and the pictures, to each logger."""
    if not loggers:
        return
    from torchvision.io import ImageReadMode, decode_png, read_file

    from vaelab.callbacks import pictures

    images = {p.stem: decode_png(read_file(str(p)), ImageReadMode.RGB).float() / 255 for p in sorted(out.glob("*.png"))}
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(ckpt_cfg, resolve=True) | {"eval_of": metrics["ckpt_path"]})
        logger.log_metrics({key: v for key, v in metrics.items() if isinstance(v, float)}, step=0)
    pictures.log_images(loggers, images, split, step=0)
    for logger in loggers:
        logger.save()  # CSV and TensorBoard write what they hold; W&B sends it (finish_loggers closes it)


def table(metrics: dict[str, Any], title: str) -> str:
    scalars = {k: v for k, v in metrics.items() if isinstance(v, float)}
    width = max(map(len, scalars), default=10)
    rows = [title, "-" * (width + 16)] + [f"{k:<{width}}  {v:>14.4f}" for k, v in sorted(scalars.items())]
    return "\n".join(rows)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")
def app(cfg: DictConfig) -> None:
    task_started()  # Hydra composed the config: see vaelab.config.composition.run
    with reported(), collector.paused():  # the imports are most of the start (vaelab.runs.collector)
        evaluate(cfg)


def main(argv: list[str] | None = None) -> int:
    """The console script vaelab-eval (and eval.py): the Hydra app on argv (default sys.argv[1:])."""
    return run_app(app, "eval", argv)


if __name__ == "__main__":
    raise SystemExit(main())
