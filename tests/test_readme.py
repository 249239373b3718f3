"""The README's ```python blocks run, in order, in one namespace (so they cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

import mark1 as m1

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.M | re.S)


def test_readme_has_code():
    assert len(python_blocks()) >= 2


def test_readme_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks may write files (checkpoints, plots)
    namespace: dict = {"__name__": "__readme__"}
    try:
        for i, block in enumerate(python_blocks()):
            exec(compile(block, f"README.md block {i + 1}", "exec"), namespace)
    finally:
        m1.use("auto")
