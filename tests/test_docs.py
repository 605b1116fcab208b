"""Every Python code block of the documentation runs, page by page, so the guide cannot rot.

A page's ```python blocks run in order in one namespace, inside a temporary directory (blocks may
write files). Blocks fenced as ```text or ```bash are not run. `make docs` runs these tests after
building the site.
"""

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "notebooks" not in p.parts)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    return BLOCK.findall(text)


def test_blocks_are_found():
    text = "a\n```python\nx = 1\n```\n```text\nnot run\n```\n```python\ny = x\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = x\n"]


@pytest.mark.docs
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JAXMF_QUICK", "1")
    namespace = {"__name__": "__docs__"}
    for i, block in enumerate(python_blocks(page.read_text())):
        exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
