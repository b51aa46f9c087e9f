"""The architecture's rules, checked on the source: small files and functions, imports that only
point down (no command module imported by training or the translator), and no branching on the
model family outside `seq2seq/models/`."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seq2seq"
SOURCES = sorted(PACKAGE.rglob("*.py"))
ENTITIES = PACKAGE / "entities"
SCRIPTS = sorted((PACKAGE.parent / "scripts").rglob("*.py"))
COMMAND_MODULES = {"seq2seq.cli", "seq2seq.evaluate", "seq2seq.translate", "seq2seq.train", "seq2seq.__main__",
                   "seq2seq.average", "seq2seq.serve", "seq2seq.sweep"}


def name_of(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def imported_modules(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", SOURCES, ids=name_of)
def test_files_and_functions_stay_small(path: Path):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 400, f"{name_of(path)} has more than 400 lines: split it"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= 80, f"{name_of(path)}:{node.lineno} {node.name} has {length} lines"


@pytest.mark.parametrize("path", [p for p in SOURCES if p.parent.name == "training"
                                  or p.name in ("translator.py", "pipeline.py", "search.py", "metrics.py")], ids=name_of)
def test_training_and_the_translator_never_import_a_command(path: Path):
    imports = imported_modules(ast.parse(path.read_text(encoding="utf-8")))
    assert not imports & COMMAND_MODULES, f"{name_of(path)} imports {imports & COMMAND_MODULES}"


def test_search_imports_only_torch_the_interface_and_special_tokens():
    allowed = {"seq2seq.models.base", "seq2seq.models.base.Seq2SeqModel", "seq2seq.special_tokens",
               "seq2seq.repetition", "seq2seq.entities", "seq2seq.entities.SymbolCounts",
               "seq2seq.special_tokens.BOS_ID", "seq2seq.special_tokens.EOS_ID", "seq2seq.special_tokens.PAD_ID"}
    allowed |= {f"seq2seq.repetition.{name}" for name in ("repeating", "block_repeated_ngrams_", "block_piece_runs_")}
    allowed |= {f"seq2seq.search_rules{name}" for name in ("", ".NEG_INF", ".apply_rules_", ".log_probs_of")}
    for module in ("search.py", "search_rules.py"):  # the search and the rules of its steps
        imports = imported_modules(ast.parse((PACKAGE / module).read_text(encoding="utf-8")))
        ours = {m for m in imports if m.startswith("seq2seq")}
        assert ours <= allowed, (module, ours - allowed)
    for helper in ("repetition.py", "entities/placement.py"):  # the search's own helpers: torch and the special tokens only
        helper_imports = imported_modules(ast.parse((PACKAGE / helper).read_text(encoding="utf-8")))
        assert {m for m in helper_imports if m.startswith("seq2seq")} <= {
            "seq2seq.special_tokens", "seq2seq.special_tokens.EOS_ID"}, helper


@pytest.mark.parametrize("path", [p for p in SOURCES if p.parent.name != "models" and p.name != "config.py"],
                         ids=name_of)
def test_only_models_know_the_families(path: Path):
    """config.py declares each family's keys; everything else asks the model, not model.type."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and node.value in ("rnn", "transformer"):
            pytest.fail(f"{name_of(path)}:{node.lineno} names the family {node.value!r}")
        if isinstance(node, ast.Attribute) and node.attr == "type" and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "model":
            pytest.fail(f"{name_of(path)}:{node.lineno} reads model.type")


@pytest.mark.parametrize("path", sorted(ENTITIES.rglob("*.py")), ids=name_of)
def test_entities_import_nothing_of_seq2seq_above_them(path: Path):
    """seq2seq/entities/ stands on the standard library, torch and the special tokens only, so
    data, the translator, checkpoints and the search can all use it."""
    for module in imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
        top = module.split(".")[0]
        if top == "seq2seq":
            assert module.startswith(("seq2seq.entities", "seq2seq.special_tokens")), f"{name_of(path)} imports {module}"
        else:
            assert top in sys.stdlib_module_names or top == "torch", f"{name_of(path)} imports {module}"


def entity_submodules() -> set[str]:
    return {p.stem for p in ENTITIES.iterdir() if p.suffix == ".py" and p.stem != "__init__"} | {
        p.name for p in ENTITIES.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}


@pytest.mark.parametrize("path", [p for p in SOURCES if ENTITIES not in p.parents] + SCRIPTS,
                         ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_only_the_entities_interface_is_used_outside_them(path: Path):
    """Outside seq2seq/entities/, code imports `seq2seq.entities` (its __init__), never a submodule."""
    inner = entity_submodules()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert not node.module.startswith("seq2seq.entities."), f"{path.name}: from {node.module} import ..."
            if node.module == "seq2seq.entities":
                assert not {alias.name for alias in node.names} & inner, f"{path.name} imports an entities submodule"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("seq2seq.entities."), f"{path.name}: import {alias.name}"
