"""The README is one page a newcomer reads: short, the set-up and a quick start first, every
python block run by some test, every link to a file pointing at one that exists."""

from __future__ import annotations

import re

import pytest

from ..readme import README, ROOT, section

MAX_LINES = 350
QUICK_START_WITHIN = 80


def lines() -> list[str]:
    return README.read_text().splitlines()


def test_the_readme_is_short() -> None:
    assert len(lines()) <= MAX_LINES


def test_set_up_commands_come_first() -> None:
    blocks = re.findall(r"```(\w*)\n(.*?)```", README.read_text(), flags=re.S)
    language, first = blocks[0]
    assert language == "bash"
    demo, tests = first.strip().splitlines()
    assert demo.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install '.[")
    assert demo.endswith("&& tiered-cache demo")
    assert tests == (
        "python3 -m venv .venv && . .venv/bin/activate && bash .ci/install && python -m pytest"
    )


def test_the_langchain_quick_start_is_near_the_top() -> None:
    text = lines()
    heading = text.index("## Quick start: LangChain")
    end = text.index("```", text.index("```python", heading) + 1)
    assert end < QUICK_START_WITHIN, f"the quick start ends on line {end + 1}"
    assert len(text[heading:end]) <= 20


def test_no_failing_targets_on_the_first_page() -> None:
    assert "| FAIL |" not in README.read_text()


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
)
def test_relative_links_point_at_files(page: str) -> None:
    path = ROOT / page
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text()):
        assert (path.parent / target).exists(), f"{page}: {target}"


def test_every_python_block_is_run_by_a_test() -> None:
    """Each page's ```python blocks live in sections that a test names."""
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    for path in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for heading in re.findall(r"^## (.+)$", text, flags=re.M):
            if "```python" in section(heading, str(path.relative_to(ROOT))):
                assert f'"{heading}"' in tests, f"{path.name}: no test runs '## {heading}'"


def test_each_hit_rule_names_a_file_that_exists() -> None:
    """A reader of "What decides a hit" opens one file per row."""
    rows = [r for r in section("What decides a hit").splitlines() if r.startswith("| ")][1:]
    assert rows
    for row in rows:
        path = re.findall(r"`([\w/]+\.py)`", row.rsplit("|", 2)[-2])
        assert path and (ROOT / "core" / "tiered_cache" / path[0]).is_file(), row
