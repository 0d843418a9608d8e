"""The code blocks of a page under docs/, so that tests run the examples as written."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def page_blocks(name: str) -> tuple[Path, list[str]]:
    """The page's path and its ```python blocks, in order."""
    page = DOCS / name
    return page, re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
