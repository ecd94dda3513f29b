"""The trust boundary: the user's own config may name anything importable; a checkpoint's config
only vaelab's own components and the packages the user trusts (trust=[...], installed plugins)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from vaelab.config.targets import RefusedTarget, Trust, check

PACKAGE = '''
"""A researcher's package, written by the test."""
from torch import nn


class Timer:
    def __init__(self, every: int = 1):
        self.every = every


def helper(x):
    return x
'''


@pytest.fixture
def mylab(tmp_path, monkeypatch):
    """An importable package `mylab_t` of the test's own, with a class and a function."""
    (tmp_path / "mylab_t").mkdir()
    (tmp_path / "mylab_t" / "__init__.py").write_text(textwrap.dedent(PACKAGE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "mylab_t"
    sys.modules.pop("mylab_t", None)


def test_the_users_own_config_may_name_any_importable_class(mylab):
    check({"callbacks": {"timer": {"_target_": "mylab_t.Timer", "every": 3}}})
    check({"x": {"_target_": "collections.OrderedDict"}})


def test_a_target_that_does_not_import_is_one_line_naming_key_target_and_error():
    with pytest.raises(RefusedTarget) as refused:
        check({"model": {"encoder": {"_target_": "nolab.encoders.ResMLPEncoder"}}})
    assert str(refused.value) == (
        "model.encoder._target_='nolab.encoders.ResMLPEncoder': cannot be imported "
        "(ImportError: no module named 'nolab')"
    )
    with pytest.raises(RefusedTarget, match=r"module 'collections' has no attribute 'Nope'"):
        check({"x": {"_target_": "collections.Nope"}})


def test_a_keyword_the_users_class_does_not_take_is_named(mylab):
    with pytest.raises(
        ValueError, match=r"callbacks.timer.evry: mylab_t.Timer takes no argument 'evry'; did you mean every"
    ):
        check({"callbacks": {"timer": {"_target_": "mylab_t.Timer", "evry": 3}}})


def test_a_checkpoint_may_name_a_trusted_package_s_classes_only(mylab):
    tree = {"callbacks": {"timer": {"_target_": "mylab_t.Timer"}}}
    with pytest.raises(RefusedTarget) as refused:
        check(tree, "ckpt_path=x.ckpt", trust=Trust())
    message = str(refused.value)
    assert message.startswith("ckpt_path=x.ckpt: refused to instantiate 'mylab_t.Timer' at callbacks.timer")
    assert "trust=[mylab_t] on this command would allow it" in message and "\n" not in message
    check(tree, "ckpt_path=x.ckpt", trust=Trust.of(["mylab_t"]))
    # A function of the trusted package is not a component; other packages stay refused.
    with pytest.raises(RefusedTarget, match="'mylab_t.helper'"):
        check({"x": {"_target_": "mylab_t.helper"}}, "ckpt", trust=Trust.of(["mylab_t"]))
    for target in ("os.system", "pathlib.Path.write_text", "numpy.load", "builtins.eval"):
        with pytest.raises(RefusedTarget, match=rf"trust=\[mylab_t, {target.split('.')[0]}\]"):
            check({"x": {"_target_": target}}, "ckpt", trust=Trust.of(["mylab_t"]))


def test_trust_names_packages():
    with pytest.raises(ValueError, match=r"'os; rm' is not a package name"):
        Trust.of(["os; rm"])


def test_an_installed_plugin_declares_the_packages_it_trusts(tmp_path, monkeypatch, mylab):
    # A real distribution on sys.path: importlib.metadata reads its entry points.
    dist = tmp_path / "mylab_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mylab-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[vaelab.trusted]\nmylab = mylab_t\n")
    trust = Trust.of()
    assert "mylab_t" in trust.packages and trust.named == ()
    check({"x": {"_target_": "mylab_t.Timer"}}, "ckpt", trust=trust)


def test_a_crafted_checkpoint_still_runs_nothing(tmp_path):
    # Refused by name before any import, with or without other trusted packages.
    marker = tmp_path / "pwned"
    tree = {"x": {"_target_": "pathlib.Path.write_text", "_args_": [str(marker), "x"]}}
    for trust in (Trust(), Trust.of(["collections"])):
        with pytest.raises(RefusedTarget):
            check(tree, "ckpt", trust=trust)
    assert not Path(marker).exists()
