"""The code blocks of the README and the docs pages, by section, so that tests run the examples
as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def page_path(page: str = "README.md") -> Path:
    """The file of a page named relative to the repository root (`README.md`, `docs/x.md`)."""
    return ROOT / page


def section(heading: str, page: str = "README.md") -> str:
    """The text under the `## {heading}` heading of `page`, up to the next `## ` heading."""
    text = page_path(page).read_text()
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if match is None:
        raise LookupError(f"{page} has no '## {heading}' section")
    return match.group(1)


def python_blocks(heading: str, page: str = "README.md") -> list[str]:
    """The ```python blocks under the `## {heading}` heading of `page`, in order."""
    return re.findall(r"```python\n(.*?)```", section(heading, page), flags=re.S)
