"""`egovla serve` as a user runs it: a process that prints where it listens, serves, and stops
cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import pytest

from helpers.policies import CHUNK, make_obs, tiny_policy, write_run

from egovla.cli import main
from egovla.client.client import AuthError, PolicyClient


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return out[0] if out else ""


@pytest.mark.slow
def test_serve_prints_its_address_serves_and_stops_on_sigterm(tmp_path):
    run = write_run(tmp_path / "run", tiny_policy())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EGOVLA_TOKEN": ""}
    proc = subprocess.Popen([sys.executable, "-m", "egovla.cli", "serve", "--policy", str(run), "--port", "0",
                             "--token", "t0k", "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = _first_line(proc, 60)
        match = re.search(r"on ws://127\.0\.0\.1:(\d+)", line)
        assert match, f"no address printed: {line!r} / {proc.stderr.read() if proc.poll() is not None else ''}"
        port = int(match.group(1))
        with pytest.raises(AuthError):
            PolicyClient("127.0.0.1", port, connect_timeout_s=5)
        with PolicyClient("127.0.0.1", port, token="t0k") as client:
            assert client.infer(make_obs(0))["actions"].shape == (CHUNK, 48)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "server stopped after 1 request(s)" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_serve_without_a_policy_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["serve", "--policy", str(tmp_path / "nope"), "--port", "0"]) == 2
    assert "nope: no such run or policy folder" in capsys.readouterr().err


def test_serve_refuses_an_empty_token(tmp_path, capsys):
    run = write_run(tmp_path / "run", tiny_policy())
    assert main(["serve", "--policy", str(run), "--token", "", "--port", "0"]) == 2
    assert "empty token" in capsys.readouterr().err


def test_serve_help_explains_the_protocol(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("msgpack", "never pickle", "/healthz", "--batch-wait-ms", "openpi", "SIGTERM"):
        assert words in text
