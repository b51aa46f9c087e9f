"""Shared test fixtures: the real corpora from ../shared/data, small threads, tmp dirs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

# Two cores are shared by everything the tests run; one torch thread keeps them predictable.
torch.set_num_threads(1)


def shared_data_dir() -> Path | None:
    """Folder of real corpora (set by scripts/test.sh from ../shared/data), or None."""
    value = os.environ.get("S2S_SHARED_DATA")
    # Resolved now: tests change directory, and a relative path would then point elsewhere.
    return Path(value).resolve() if value and Path(value).is_dir() else None


@pytest.fixture
def shared_data() -> Path:
    folder = shared_data_dir()
    if folder is None:
        pytest.skip("real corpora not available: set S2S_SHARED_DATA to the shared/data folder "
                    "(scripts/test.sh does this when ../shared/data exists)")
    return folder


@pytest.fixture
def tatoeba_file(shared_data: Path) -> Path:
    path = shared_data / "tatoeba-fra-eng" / "fra.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run the `s2s` console entry point in-process: (exit code, stdout, stderr)."""
    from seq2seq import cli

    monkeypatch.setattr(sys, "argv", ["s2s", *map(str, args)])
    with pytest.raises(SystemExit) as info:
        cli.run()
    captured = capsys.readouterr()
    return info.value.code or 0, captured.out, captured.err
