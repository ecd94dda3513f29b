"""A checkpoint never runs code: crafted configs are refused by every command that loads one.

Each payload below is live: given to plain `hydra.utils.instantiate` it writes a file (checked
first, so a refusal is not just a payload that would have failed anyway). Through vaelab-eval,
vaelab-sample and `train.py ckpt_path=...` the same checkpoint is refused in one line naming
the target, and no file appears.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers import OLD_CHECKPOINT
from tests.helpers.apps import compose_app
from vaelab.cli.evaluate import evaluate
from vaelab.cli.sample import sample
from vaelab.config import targets
from vaelab.config.targets import RefusedTarget
from vaelab.errors import exit_code, root_cause
from vaelab.runs.callback_state import RefusedRecord
from vaelab.runs.checkpoint import load_model
from vaelab.runs.train import train


def eval_main(out: Path, *argv: str) -> int:
    """vaelab-eval argv... in-process, writing into `out`: its exit code (errors: one line on stderr)."""
    return exit_code(lambda: evaluate(compose_app("eval", *argv, output_dir=out)))


def sample_main(out: Path, *argv: str) -> int:
    return exit_code(lambda: sample(compose_app("sample", *argv, output_dir=out)))


def write_file(marker: Path) -> dict:
    """A config that, instantiated, writes `marker`: Path(marker).write_text("pwned")."""
    return {
        "_target_": "pathlib.Path.write_text",
        "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}, "pwned"],
    }


def plant(config: dict, where: str, payload: dict) -> None:
    """Put `payload` at the dotted/indexed place `where` of a stored config."""
    *parents, last = where.split(".")
    node = config
    for key in parents:
        node = node[key]
    if last.endswith("]"):
        key, index = last[:-1].split("[")
        node[key][int(index)] = payload
    else:
        node[last] = payload


# (where the payload goes, how it is wrapped): the shapes and more.
SHAPES = {
    # The reported exploit: the whole model config a builtins.list of calls.
    "model_is_a_list_of_calls": ("model", lambda p: {"_target_": "builtins.list", "_args_": [[p]]}),
    "nested_in_args": ("model.encoder._args_", lambda p: [p]),
    "in_a_partial": ("model.optimizer", lambda p: {"_target_": "torch.optim.Adam", "_partial_": True, "lr": p}),
    "in_the_data_config": ("data", lambda p: p),
    "in_the_likelihood_config": ("likelihood", lambda p: p),
    "in_a_list": ("model.encoder.hidden[0]", lambda p: p),
    "in_a_callback": ("callbacks.history", lambda p: p),
}


def evil_checkpoint(tmp_path: Path, where: str, payload: dict) -> Path:
    checkpoint = torch.load(OLD_CHECKPOINT, weights_only=True)
    config = copy.deepcopy(checkpoint["vaelab"]["config"])
    plant(config, where, payload)
    checkpoint["vaelab"]["config"] = config
    path = tmp_path / "evil.ckpt"
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize("shape", SHAPES)
def test_crafted_checkpoints_run_nothing(tmp_path, capsys, shape):
    where, wrap = SHAPES[shape]
    # The payload is live: Hydra alone would run it.
    proof = tmp_path / "proof"
    with contextlib.suppress(Exception):  # whatever happens after the write
        instantiate(OmegaConf.create(wrap(write_file(proof))))
    assert proof.read_text() == "pwned"

    marker = tmp_path / "pwned"
    ckpt = evil_checkpoint(tmp_path, where, wrap(write_file(marker)))
    with pytest.raises(RefusedTarget, match=r"refused to instantiate '(builtins\.list|pathlib\.Path\.write_text)'"):
        load_model(ckpt)
    out = tmp_path / "out"
    assert eval_main(out, f"ckpt_path={ckpt}", "eval.num_samples=2") == 1
    assert sample_main(out, f"ckpt_path={ckpt}", "interpolate=true") == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") and "refused" in line for line in lines)
    assert not marker.exists() and not out.exists()


def test_resume_from_a_crafted_checkpoint_runs_nothing(tmp_path, cfg_factory):
    marker = tmp_path / "pwned"
    ckpt = evil_checkpoint(tmp_path, "model", write_file(marker))
    cfg = cfg_factory(f"ckpt_path={ckpt}")
    with pytest.raises(RefusedTarget, match="pathlib.Path.write_text"):
        train(cfg)
    assert not marker.exists() and not list(tmp_path.glob("**/*.ckpt"))[1:]  # only evil.ckpt


@pytest.mark.parametrize(
    "value, resolver",
    [
        ("${vaelab.run_dir:{tmp}/made,null,[]}", "vaelab.run_dir"),  # would create a directory
        ("${oc.env:HOME}", "oc.env"),  # would read the environment
        ("${oc.decode:'{_target_: builtins.eval}'}", "oc.decode"),  # would build a _target_ at resolution
        ("\\${vaelab.run_dir:{tmp}/made,null,[]}", "vaelab.run_dir"),  # escaped: a string that looks like one
    ],
)
def test_checkpoint_configs_call_no_resolver_but_params_per_dim(tmp_path, value, resolver):
    ckpt = evil_checkpoint(tmp_path, "task_name", value.replace("{tmp}", str(tmp_path)))
    with pytest.raises(RefusedTarget, match=f"task_name calls the resolver '{resolver}'"):
        load_model(ckpt)
    assert not (tmp_path / "made").exists()


def test_likelihood_lookup_imports_nothing_but_vaelab_likelihoods(tmp_path):
    import sys

    ckpt = evil_checkpoint(tmp_path, "likelihood._target_", "antigravity.Thing")
    with pytest.raises(RefusedTarget, match="refused to instantiate 'antigravity.Thing' at likelihood"):
        load_model(ckpt)
    # The decoder-width resolver that reads the likelihood's name judges it as a checkpoint's
    # _target_ while a checkpoint's config resolves: vaelab's likelihoods and trusted packages only.
    ckpt = evil_checkpoint(tmp_path, "model.decoder.params_per_dim", "${vaelab.params_per_dim:antigravity.Thing}")
    with pytest.raises(RefusedTarget, match="refused to instantiate 'antigravity.Thing' at likelihood"):
        load_model(ckpt)
    with targets.judging(targets.Trust()), pytest.raises(Exception, match="'antigravity.Thing'") as raised:
        OmegaConf.to_container(OmegaConf.create({"p": "${vaelab.params_per_dim:antigravity.Thing}"}), resolve=True)
    assert isinstance(root_cause(raised.value), RefusedTarget)
    assert "antigravity" not in sys.modules
    # In the user's own config it names a likelihood class of any package; anything else is refused.
    assert OmegaConf.create({"p": "${vaelab.params_per_dim:vaelab.likelihood.GaussianLearned}"}).p == 2
    with pytest.raises(Exception, match="'collections.OrderedDict': not a likelihood class"):
        OmegaConf.to_container(
            OmegaConf.create({"p": "${vaelab.params_per_dim:collections.OrderedDict}"}), resolve=True
        )


def test_an_old_honest_checkpoint_still_loads(tmp_path):
    model, cfg, checkpoint = load_model(OLD_CHECKPOINT)
    assert model.vae.latent_dim == 2 and cfg.model.encoder.hidden == [16]
    x = torch.rand(3, 1, 8, 8)
    assert model.vae.log_marginal(x, 5).shape == (3,)
    out = tmp_path / "eval"
    assert eval_main(out, f"ckpt_path={OLD_CHECKPOINT}", "eval.num_samples=2", "pictures=false") == 0
    assert (out / "metrics.json").is_file()


@pytest.mark.parametrize(
    "override, message",
    [
        ("objective.beta=-1", "objective.beta=-1: must be >= 0"),
        (
            "objective.betaa=3",
            "objective.betaa=3: the checkpoint's config has no setting objective.betaa; did you mean objective.beta?",
        ),
        (
            "num_samples=5",
            "num_samples=5: the checkpoint's config has no setting num_samples; did you mean eval.num_samples?",
        ),
        ("data.batch_size=2.5", "data.batch_size=2.5: must be a whole number"),
    ],
)
def test_load_time_overrides_are_checked(tmp_path, capsys, override, message):
    assert eval_main(tmp_path, f"ckpt_path={OLD_CHECKPOINT}", override) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_a_checkpoint_cannot_point_lightning_at_files_outside_its_folder(tmp_path, cfg_factory):
    # Lightning deletes the worst of the top-k checkpoints it restored from the record: a crafted
    # record could name any file. Such a checkpoint is refused before Lightning sees it.
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    checkpoint = torch.load(OLD_CHECKPOINT, weights_only=True)
    (key,) = [k for k in checkpoint["callbacks"] if "val/loss" in k]
    state = checkpoint["callbacks"][key]
    state["kth_best_model_path"] = str(Path(state["dirpath"]) / ".." / ".." / ".." / str(victim))
    state["best_k_models"] = {str(victim): torch.tensor(0.0)}
    evil = tmp_path / "evil.ckpt"
    torch.save(checkpoint, evil)
    with pytest.raises(RefusedRecord, match="outside its folder"):
        load_model(evil)
    with pytest.raises(RefusedRecord, match="outside its folder"):
        train(cfg_factory(f"ckpt_path={evil}"))
    assert victim.read_text() == "keep me"
