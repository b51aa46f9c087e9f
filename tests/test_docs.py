"""The docs agree with the code and the records: every module and command in docs/DESIGN.md,
docs/results.md generated from docs/results/*.json, every record complete and cited, every link
between the pages leading somewhere, and a README short enough to read."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
DESIGN = REPO / "docs" / "DESIGN.md"
RECORDS = REPO / "docs" / "results"
# the pages a reader reads; docs/results.md is generated and lists every record, so it cites none
PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", REPO / "data" / "README.md",
         *sorted(path for path in (REPO / "docs").glob("*.md") if path.name != "results.md")]
REQUIRED = ("commit", "config", "config_sha256", "cpu", "command", "minutes", "seed", "updates", "series",
            "description")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def results_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("results_table", REPO / "scripts" / "results_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def records() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(RECORDS.glob("*.json"))}


def test_every_module_is_named_in_design() -> None:
    design = DESIGN.read_text(encoding="utf-8")
    modules = sorted(path.relative_to(REPO).as_posix() for path in (REPO / "seq2seq").rglob("*.py"))
    assert modules, "no modules found"
    missing = [module for module in modules if f"`{module}`" not in design]
    assert not missing, f"docs/DESIGN.md does not name these modules: {', '.join(missing)}"


def test_every_command_is_named_in_design() -> None:
    import typer

    from seq2seq.cli import app

    def commands(group, prefix: str) -> list[str]:
        found = []
        for name, command in group.commands.items():
            found += commands(command, f"{prefix} {name}") if hasattr(command, "commands") else [f"{prefix} {name}"]
        return found

    names = commands(typer.main.get_command(app), "s2s")
    assert "s2s train" in names and "s2s data prepare" in names
    design = DESIGN.read_text(encoding="utf-8")
    missing = [name for name in names if f"`{name}`" not in design]
    assert not missing, f"docs/DESIGN.md does not name these commands: {', '.join(missing)}"


def test_results_page_is_what_the_records_give() -> None:
    module = results_table()
    page = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    assert page == module.render(module.load_records(RECORDS)), \
        "docs/results.md is out of date: run python scripts/results_table.py"


def test_every_record_has_the_required_fields() -> None:
    found = records()
    assert len(found) >= 7, "the README's table alone cites seven records"
    for name, record in found.items():
        missing = [field for field in REQUIRED if field not in record]
        assert not missing, f"{name}: no {', '.join(missing)}"
        assert {"bleu", "chrf"} <= set(record["test_beam"]), f"{name}: test_beam lacks bleu or chrf"
        assert re.fullmatch(r"[0-9a-f]{40}", record["commit"]), f"{name}: commit is not a git hash"
        assert re.fullmatch(r"[0-9a-f]{64}", record["config_sha256"]), f"{name}: config_sha256 is not a sha256"
        assert name == f"{Path(record['config']).stem}.{record['series']}.{record['minutes']}min.seed{record['seed']}.json"
        for field in record.get("backfilled", {}).get("fields", []):
            assert field in record, f"{name}: backfilled field {field} is missing"
        assert module_problems(name, record) == []


def module_problems(name: str, record: dict) -> list[str]:
    return results_table().check_record(name, record)


def test_a_record_without_its_commit_is_refused(tmp_path: Path) -> None:
    name, record = next(iter(records().items()))
    del record["commit"]
    assert any("'commit'" in problem for problem in module_problems(name, record))
    (tmp_path / name).write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(ValueError, match="commit"):
        results_table().load_records(tmp_path)


def test_every_record_is_cited_by_a_page() -> None:
    """A page cites a record by its file name, or by a link to its series' section of results.md."""
    module = results_table()
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    uncited = []
    for members in module.groups(records()):
        anchor = f"results.md#{module._anchor(members)}"
        uncited += [name for name, _ in members if name not in text and anchor not in text]
    assert not uncited, f"no page cites these records (cite them or delete them): {', '.join(uncited)}"


def slug(heading: str) -> str:
    """The id GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {slug(match) for match in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def test_links_between_pages_lead_somewhere() -> None:
    broken = []
    for page in [*PAGES, REPO / "docs" / "results.md"]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # http:, mailto:
            path_part, _, anchor = target.partition("#")
            linked = (page.parent / path_part).resolve() if path_part else page
            if not linked.exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "broken links: " + "; ".join(broken)


def test_scripts_the_guides_run_exist() -> None:
    """Commands in the README and guides name scripts that exist (CHANGELOG and records keep history)."""
    missing = []
    for page in [REPO / "README.md", *(path for path in PAGES if path.parent.name == "docs")]:
        for script in re.findall(r"(?:python|bash) (scripts/[\w/.-]+\.(?:py|sh))", page.read_text(encoding="utf-8")):
            if not (REPO / script).is_file():
                missing.append(f"{page.relative_to(REPO)}: {script}")
    assert not missing, "no such script: " + "; ".join(missing)


def test_the_readme_is_short_and_runs_the_tests_as_ci_does() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    assert "bash scripts/test.sh" in readme and "bash scripts/quickstart.sh" in readme
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert readme.index("bash scripts/quickstart.sh") < readme.index("## Results"), "commands before results"
