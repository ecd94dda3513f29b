"""A checkpoint cannot make a resumed run delete or overwrite files outside its checkpoints folder.

Lightning restores ModelCheckpoint's record (best, last and top-k paths) from the checkpoint and
later removes files by it, `fs.rm(recursive=True)` for any non-`file` protocol. Each crafted record
here names a victim folder and a victim file outside the run; the run resumes from it for real
(two epochs, so top-k and last checkpoints are replaced and old ones removed), and the victims
must survive. URLs are refused in one line before anything runs; plain paths outside the run
(`..`, absolute, symlinked, with or without `dirpath`) are dropped, and the run trains on.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch

from tests.conftest import TINY, compose_config
from vaelab.runs.callback_state import RefusedRecord, check_records, confine_records
from vaelab.runs.checkpoint import read_checkpoint
from vaelab.runs.train import train


@pytest.fixture(scope="module")
def honest(tmp_path_factory) -> Path:
    """The last.ckpt of a real one-epoch run on digits (top-k and last records in it)."""
    tmp = tmp_path_factory.mktemp("honest")
    train(compose_config(tmp, *TINY, "data=digits"))
    return tmp / "run" / "checkpoints" / "last.ckpt"


@pytest.fixture
def victims(tmp_path) -> tuple[Path, Path]:
    folder = tmp_path / "precious"
    (folder / "deep").mkdir(parents=True)
    (folder / "deep" / "thesis.tex").write_text("years of work")
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    return folder, file


def craft(honest: Path, out: Path, names: dict[str, str], dirpath: str | None) -> Path:
    """`honest` with every ModelCheckpoint record pointed at `names` (best_model_path,
    kth_best_model_path, last_model_path, best_k_models), and its dirpath set or removed."""
    checkpoint = torch.load(honest, weights_only=True)
    records = [state for key, state in checkpoint["callbacks"].items() if key.startswith("ModelCheckpoint")]
    assert len(records) == 2  # the best-on-validation and the step checkpoint callbacks
    for state in records:
        state.pop("dirpath")
        if dirpath is not None:
            state["dirpath"] = dirpath
        state["best_model_path"] = names["best"]
        state["kth_best_model_path"] = names["kth"]
        state["last_model_path"] = names["last"]
        state["best_k_models"] = {names["kth"]: torch.tensor(1e9), names["best"]: torch.tensor(-1e9)}
        state["kth_value"] = torch.tensor(1e9)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out)
    return out


def resume(tmp_path: Path, ckpt: Path, epochs: int = 2):
    cfg = compose_config(tmp_path, *TINY, "data=digits", f"trainer.max_epochs={epochs}", f"ckpt_path={ckpt}")
    return train(cfg)


def assert_intact(victims: tuple[Path, Path]) -> None:
    folder, file = victims
    assert (folder / "deep" / "thesis.tex").read_text() == "years of work"
    assert file.read_text() == "keep me"


@pytest.mark.parametrize("scheme", ["local://", "file://", "s3://bucket", "memory://"])
@pytest.mark.parametrize("dirpath", [None, "keep"])
def test_url_paths_are_refused_before_anything_runs(tmp_path, honest, victims, scheme, dirpath):
    folder, file = victims
    names = {"best": f"{scheme}{folder}", "kth": f"{scheme}{file}", "last": f"{scheme}{folder}/deep"}
    run_ckpts = tmp_path / "run" / "checkpoints"
    evil = craft(honest, tmp_path / "evil" / "evil.ckpt", names, str(run_ckpts) if dirpath else None)
    with pytest.raises(RefusedRecord, match=r"only plain local paths are allowed, not URLs"):
        read_checkpoint(evil)
    with pytest.raises(RefusedRecord) as refused:
        resume(tmp_path, evil)
    assert str(refused.value).count("\n") == 0 and "refused: the record of ModelCheckpoint" in str(refused.value)
    assert_intact(victims)
    assert not run_ckpts.exists()  # refused before the run wrote anything


def test_the_reported_case_local_url_without_dirpath(tmp_path, honest, victims):
    # The checkpoint: dirpath removed, every path at local:///some/dir and local:///some/file.
    folder, file = victims
    names = {"best": f"local://{folder}", "kth": f"local://{file}", "last": f"local://{folder}"}
    evil = craft(honest, tmp_path / "crafted.ckpt", names, None)
    with pytest.raises(RefusedRecord, match=r"names 'local://"):
        resume(tmp_path, evil)
    assert_intact(victims)


def test_paths_escaping_their_dirpath_are_refused(tmp_path, honest, victims):
    folder, file = victims
    ckpts = tmp_path / "run" / "checkpoints"
    escape = str(ckpts / ".." / ".." / file.name)
    names = {"best": escape, "kth": escape, "last": str(ckpts / "last.ckpt")}
    evil = craft(honest, tmp_path / "evil.ckpt", names, str(ckpts))
    with pytest.raises(RefusedRecord, match="outside its folder"):
        resume(tmp_path, evil)
    assert_intact(victims)


def symlinked(tmp_path: Path, victims: tuple[Path, Path]) -> dict[str, str]:
    """Paths inside the run's checkpoints folder that are symlinks to the victims (or through one)."""
    folder, file = victims
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "epoch_000.ckpt").symlink_to(file)
    (ckpts / "sub").symlink_to(folder)
    return {"best": str(ckpts / "epoch_000.ckpt"), "kth": str(ckpts / "sub" / "deep"), "last": str(ckpts / "sub")}


@pytest.mark.parametrize(
    "paths",
    [
        pytest.param(lambda tmp, v: {"best": str(v[0]), "kth": str(v[1]), "last": str(v[0])}, id="absolute"),
        pytest.param(
            lambda tmp, v: {
                k: str(tmp / "run" / "checkpoints" / ".." / ".." / v[1].name) for k in ("best", "kth", "last")
            },
            id="dotdot",
        ),
        pytest.param(lambda tmp, v: {k: f"../../{v[0].name}" for k in ("best", "kth", "last")}, id="relative"),
        pytest.param(symlinked, id="symlinked"),
    ],
)
def test_plain_paths_outside_the_run_are_dropped_and_the_run_goes_on(tmp_path, honest, victims, paths, monkeypatch):
    monkeypatch.chdir(tmp_path / "precious" / "deep")  # relative paths resolve from here
    evil = craft(honest, tmp_path / "evil.ckpt", paths(tmp_path, victims), None)
    metrics = resume(tmp_path, evil, epochs=3)
    assert_intact(victims)
    assert json.loads((tmp_path / "run" / "status.json").read_text()) == {"state": "finished"}
    assert Path(metrics["best_checkpoint"]).parent == tmp_path / "run" / "checkpoints"


def test_an_honest_resume_keeps_its_record(tmp_path):
    # The same folder: the record is kept, and the top-k file it names is replaced as usual.
    cfg = compose_config(tmp_path, *TINY, "data=digits")
    train(cfg)
    first_best = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    states = first_best["callbacks"]
    assert confine_records(states, [str(tmp_path / "run" / "checkpoints")]) == []
    record = next(s for k, s in states.items() if "val/loss" in k)
    assert Path(record["best_model_path"]).is_file()


def test_record_shape(tmp_path):
    ok = {"ModelCheckpoint{'monitor': 'val/loss'}": {"dirpath": str(tmp_path), "best_model_path": str(tmp_path / "a")}}
    check_records(ok, "ckpt")
    with pytest.raises(RefusedRecord, match="holds rm_tree: not keys of a ModelCheckpoint record"):
        check_records({"ModelCheckpoint{}": {"rm_tree": "/"}}, "ckpt")
    with pytest.raises(RefusedRecord, match="not a dict of paths"):
        check_records({"ModelCheckpoint{}": {"best_k_models": ["/etc"]}}, "ckpt")
    with pytest.raises(RefusedRecord, match="only plain local paths"):
        check_records({"ModelCheckpoint{}": {"best_model_path": 3}}, "ckpt")
    # A record under another name is still a record.
    with pytest.raises(RefusedRecord, match="only plain local paths"):
        check_records({"Mine": {"last_model_path": "file:///etc/passwd"}}, "ckpt")


def test_confine_drops_only_foreign_records(tmp_path):
    inside, outside = str(tmp_path / "ckpts" / "a.ckpt"), str(tmp_path / "elsewhere.txt")
    states = {
        "ModelCheckpoint{'a'}": {"best_model_path": inside, "best_k_models": {inside: 1.0}, "best_model_score": 1.0},
        "ModelCheckpoint{'b'}": {
            "best_model_path": inside,
            "best_k_models": {outside: 1.0},
            "kth_best_model_path": outside,
        },
        "EarlyStopping{}": {"wait_count": 3},
    }
    assert confine_records(states, [str(tmp_path / "ckpts")]) == ["ModelCheckpoint{'b'}"]
    assert states["ModelCheckpoint{'a'}"]["best_k_models"] == {inside: 1.0}
    assert states["ModelCheckpoint{'b'}"] == {"best_model_path": "", "best_model_score": None}
    assert states["EarlyStopping{}"] == {"wait_count": 3}


@pytest.mark.parametrize("layers_off", ["records", "records+confine", "all"])
def test_each_layer_alone_keeps_the_files(tmp_path, honest, victims, monkeypatch, layers_off):
    # The reported case with the earlier layers switched off: the next one still holds. With all
    # three off, Lightning itself deletes the victims: the crafted checkpoint is live.
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    import vaelab.runs.checkpoint
    import vaelab.system
    from vaelab.plugins import AtomicWriter, RefusedRemoval

    monkeypatch.setattr(vaelab.runs.checkpoint, "check_records", lambda *a: None)
    if layers_off != "records":
        monkeypatch.setattr(vaelab.system, "confine_records", lambda *a: [])
    if layers_off == "all":
        monkeypatch.setattr(AtomicWriter, "remove_checkpoint", TorchCheckpointIO.remove_checkpoint)
    folder, file = victims
    names = {"best": f"local://{folder}", "kth": f"local://{file}", "last": f"local://{folder}"}
    evil = craft(honest, tmp_path / "crafted.ckpt", names, None)
    if layers_off == "records":
        resume(tmp_path, evil, epochs=3)
        assert_intact(victims)
    elif layers_off == "records+confine":
        with pytest.raises(RefusedRemoval, match="refused to remove local://"):
            resume(tmp_path, evil, epochs=3)
        assert_intact(victims)
    else:
        with contextlib.suppress(Exception):
            resume(tmp_path, evil, epochs=3)
        assert not folder.exists()  # removed, recursively, by Lightning itself
