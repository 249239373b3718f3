"""`mark1 info` and the CLI shell."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mark1.backends import PRIORITY, unavailable_reason
from mark1.cli import main


def test_info_lists_every_backend_with_status_or_reason(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in PRIORITY:
        expected = unavailable_reason(name) or "usable"
        assert f"{name}" in out and expected in out
    assert "numpy" in out and "cpu:" in out and "gpu:" in out and "Python" in out


def test_info_json(capsys):
    main(["info", "--json"])
    info = json.loads(capsys.readouterr().out)
    assert info["backends"]["numpy"] == "usable"
    assert set(info["packages"]) >= {"numpy", "numba"}


def test_no_subcommand_prints_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "usage: mark1" in capsys.readouterr().err


SCRIPT = shutil.which("mark1", path=str(Path(sys.executable).parent)) or shutil.which("mark1")


@pytest.mark.skipif(SCRIPT is None, reason="the console script is installed by `pip install`")
def test_console_script():
    done = subprocess.run([SCRIPT, "info"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "backends" in done.stdout
