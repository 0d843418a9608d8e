"""The README's code blocks, by section, so that tests run the examples as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(section: str) -> list[str]:
    """The ```python blocks under the `## {section}` heading, in order."""
    text = README.read_text()
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if match is None:
        raise LookupError(f"README has no '## {section}' section")
    return re.findall(r"```python\n(.*?)```", match.group(1), flags=re.S)
