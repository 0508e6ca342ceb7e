"""The repo's docs stand on their own: a clone has nothing beside it and no issue tracker, so no
file may point there, and every repo path the docs name must exist."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO

# Written so that they do not match themselves.
_OUTSIDE = re.compile(r"\.\./share[d]/|/work/share[d]|[Ii]ssue [0-9]+")
_REPO_PATH = re.compile(r"`((?:infra|functions|docs|tests|events)/[\w./-]+\.(?:py|md|yaml|json))`")


def _tracked_text_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [p for p in listed if p.endswith((".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".json"))]


def test_no_file_points_outside_the_repo_or_at_issue_numbers() -> None:
    offenders = []
    for path in _tracked_text_files():
        if path == "uv.lock" or not (REPO / path).is_file():
            continue
        for number, line in enumerate((REPO / path).read_text(errors="replace").splitlines(), 1):
            if _OUTSIDE.search(line):
                offenders.append(f"{path}:{number}: {line.strip()}")
    assert offenders == []


def test_every_repo_path_named_in_the_docs_exists() -> None:
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    assert len(docs) > 1, "docs/ holds the event-source reference"
    missing = [
        f"{doc.name}: {name}"
        for doc in docs
        for name in _REPO_PATH.findall(doc.read_text())
        if not (REPO / name).exists()
    ]
    assert missing == []


def test_readme_points_at_the_event_source_reference() -> None:
    assert "docs/event-sources.md" in (REPO / "README.md").read_text()
