"""Every Python block in README.md and docs/**/*.md runs, so the docs cannot rot.

The blocks of one file run in order in one namespace (later blocks build on earlier ones), the
way a reader follows them. A block fenced as ```python runs; ```text, ```bash etc. do not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(path: Path) -> None:
    """Each documented example runs and its assertions hold."""
    namespace: dict[str, object] = {"__name__": f"doc:{path.name}"}
    for number, block in enumerate(python_blocks(path), start=1):
        code = compile(block, f"{path.name}[block {number}]", "exec", dont_inherit=True)
        exec(code, namespace)  # noqa: S102 (running our own documentation is the point)


def test_readme_has_examples() -> None:
    """The README keeps an embedding example (the test above would pass vacuously without)."""
    assert len(python_blocks(ROOT / "README.md")) >= 3
