"""W&B falls back to offline by itself: no credentials, or a host that does not answer."""

from __future__ import annotations

import socket

import pytest

from vaelab.logger.wandb import choose_mode, reachable


@pytest.fixture
def no_wandb_env(monkeypatch, tmp_path):
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))


def test_without_credentials_runs_offline(no_wandb_env):
    assert choose_mode(None) == "offline"


def test_with_credentials_but_no_answer_runs_offline(no_wandb_env, monkeypatch):
    # A port on this machine that nothing listens on: the connection is refused at once.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    assert not reachable("127.0.0.1", port, timeout=2)
    assert choose_mode(None) == "offline"


def test_credentials_in_netrc_and_a_listening_host_go_online(no_wandb_env, monkeypatch, tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        (tmp_path / ".netrc").write_text("machine 127.0.0.1\n  login user\n  password " + "k" * 40 + "\n")
        (tmp_path / ".netrc").chmod(0o600)
        monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
        assert reachable("127.0.0.1", port)
        assert choose_mode(None) == "online"


def test_explicit_modes_win_and_bad_ones_are_named(no_wandb_env, monkeypatch):
    assert choose_mode("disabled") == "disabled"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert choose_mode("online") == "offline"
    monkeypatch.delenv("WANDB_MODE")
    with pytest.raises(ValueError, match="logger.wandb.mode must be one of online, offline, disabled.*'sometimes'"):
        choose_mode("sometimes")
