"""The command line itself: --version, --help of every command, config errors as one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from seq2seq import __version__, cli
from conftest import run_cli

runner = CliRunner()


def command_paths(command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of the app, as argument tuples (() is `s2s` itself)."""
    paths = [prefix]
    if hasattr(command, "commands"):  # a group (typer >= 0.16 vendors its own click classes)
        for name, sub in command.commands.items():
            paths += command_paths(sub, prefix + (name,))
    return paths


ALL_COMMANDS = command_paths(typer.main.get_command(cli.app))




def test_version():
    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"s2s {__version__}"


def test_the_expected_commands_exist():
    assert {" ".join(p) for p in ALL_COMMANDS} >= {"", "data", "data prepare", "data download", "train",
                                                   "eval", "translate"}


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "s2s")
def test_help_of_every_command(path: tuple[str, ...]):
    result = runner.invoke(cli.app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert " ".join(("s2s",) + path) in " ".join(result.output.split())


def test_no_arguments_shows_help():
    result = runner.invoke(cli.app, [])
    assert "Usage:" in result.output and "data" in result.output


# ---------------------------------------------------------------------------------------------
# Config errors: one `error: ...` line on stderr, exit 1, no traceback


BAD_CONFIGS = {
    "unknown key": ("data:\n  path: x.tsv\n  vocab_sise: 100\n",
                    ["unknown key 'vocab_sise' in section 'data'", "did you mean 'vocab_size'"]),
    "wrong type": ("data:\n  path: x.tsv\ntrain:\n  batch_tokens: big\n",
                   ["train.batch_tokens must be an integer; got 'big'"]),
    "yaml syntax": ("data:\n  path: x.tsv\n  dev_size: 10\n dev: 2\n", ["bad.yaml:4", "YAML syntax error"]),
    "choice": ("data:\n  path: x.tsv\nmodel:\n  type: cnn\n", ["model.type must be one of rnn, transformer"]),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_config_errors_are_one_line(case: str, tmp_path: Path, monkeypatch, capsys):
    text, expected = BAD_CONFIGS[case]
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", tmp_path / "bad.yaml")
    assert code == 1 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    for fragment in expected:
        assert fragment in err


def test_bad_override_and_missing_config_file(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "ok.yaml").write_text("data:\n  path: x.tsv\n", encoding="utf-8")
    code, _, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", tmp_path / "ok.yaml",
                           "--set", "data.dev_size")
    assert code == 1 and err.startswith("error: --set 'data.dev_size': expected section.key=value")
    code, _, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", tmp_path / "none.yaml")
    assert code == 1 and err == f"error: {tmp_path / 'none.yaml'}: config file not found\n"


def test_missing_required_option_is_a_usage_error(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "data", "prepare")
    assert code == 2 and "--config" in err and "Traceback" not in err


def test_console_script_in_a_real_process(tmp_path: Path):
    """The installed `s2s` (or python -m seq2seq): exit status and stderr of a real process."""
    (tmp_path / "bad.yaml").write_text("data:\n  path: x.tsv\n  lowercase: maybe\n", encoding="utf-8")
    script = shutil.which("s2s")
    command = [script] if script else [sys.executable, "-m", "seq2seq"]
    version = subprocess.run(command + ["--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"s2s {__version__}"
    bad = subprocess.run(command + ["data", "prepare", "--config", str(tmp_path / "bad.yaml")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    assert "data.lowercase must be true or false" in bad.stderr
    assert not (tmp_path / "data").exists()
