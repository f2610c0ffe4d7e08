"""Build notebooks/*.ipynb from their sources notebooks/src/*.py (jupytext "percent" format).

    python tools/make_notebooks.py          # write every notebook
    python tools/make_notebooks.py --check  # exit 1 if a notebook is out of date

Cells start at lines "# %%" (code) or "# %% [markdown]" (markdown lines are comments);
"# %% tags=["parameters"]" tags a cell (papermill's parameters cell). Notebooks are written
without outputs and with deterministic cell ids, so regenerating them gives no diff.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "notebooks" / "src"
DST = ROOT / "notebooks"
_INCLUDE = re.compile(r"^# %% include (?P<file>[\w.]+)\s*$")
_MARK = re.compile(r"^# %%(?P<md> \[markdown\])?(?:\s+tags=(?P<tags>\[.*\]))?\s*$")


def parse_cells(text: str) -> list[dict]:
    """Split a percent-format script into [{"type", "tags", "source"}]."""
    cells: list[dict] = []
    cur = None
    for line in text.splitlines():
        inc = _INCLUDE.match(line)
        if inc:  # a code cell shared by every notebook (the setup cell), kept in one file
            shared = (SRC / inc["file"]).read_text().splitlines()
            cur = {"type": "code", "tags": [], "lines": _drop_header(shared)}
            cells.append(cur)
            cur = None
            continue
        m = _MARK.match(line)
        if m:
            cur = {"type": "markdown" if m["md"] else "code", "tags": json.loads(m["tags"] or "[]"), "lines": []}
            cells.append(cur)
        elif cur is None:
            if line.strip():
                raise ValueError(f"text before the first '# %%' marker: {line!r}")
        elif cur["type"] == "markdown":
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"markdown cell line must be a comment: {line!r}")
            cur["lines"].append(line[2:] if line.startswith("# ") else line[1:])
        else:
            cur["lines"].append(line)
    for c in cells:
        c["source"] = "\n".join(c.pop("lines")).strip("\n")
    return cells


def _drop_header(lines: list[str]) -> list[str]:
    """An included file's leading comment block explains the file, not the cell: drop it."""
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        i += 1
    return ["# Setup: in Colab, install lgfa-lite; elsewhere use the checkout this notebook lives in.", *lines[i:]]


def build_notebook(src: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    for i, c in enumerate(parse_cells(src.read_text())):
        make = nbformat.v4.new_markdown_cell if c["type"] == "markdown" else nbformat.v4.new_code_cell
        cell = make(c["source"])
        cell.id = f"{src.stem.replace('_', '-')}-{i:02d}"
        if c["tags"]:
            cell.metadata["tags"] = c["tags"]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for src in sorted(p for p in SRC.glob("*.py") if not p.name.startswith("_")):
        dst = DST / f"{src.stem}.ipynb"
        text = render(build_notebook(src))
        if dst.is_file() and dst.read_text() == text:
            continue
        if check:
            stale.append(dst)
        else:
            dst.write_text(text)
            print("wrote", dst.relative_to(ROOT))
    for dst in stale:
        print(f"out of date: {dst.relative_to(ROOT)} (run python tools/make_notebooks.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
