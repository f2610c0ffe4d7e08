"""Render the notebooks, executed, to a static HTML gallery with an index of thumbnails.

    python tools/make_gallery.py                      # every notebook, default (lite) parameters
    python tools/make_gallery.py --small 00 07        # the test suite's tiny parameters, two notebooks
    python tools/make_gallery.py --out /tmp/gallery

Each notebook runs top to bottom under papermill (in a scratch copy, outputs under <out>/runs/),
is converted to <out>/<name>.html by nbconvert, and its first picture becomes the thumbnail in
<out>/index.html, next to an "Open in Colab" link. The gallery is generated, never committed.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
COLAB = "https://colab.research.google.com/github/lgfa-lite/lgfa-lite/blob/main/notebooks/{name}.ipynb"


def small_params() -> dict:
    """The test suite's tiny parameters per notebook (tests/test_notebooks.py SMALL_PARAMS)."""
    spec = importlib.util.spec_from_file_location("test_notebooks", ROOT / "tests" / "test_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SMALL_PARAMS


def first_png(nb) -> str | None:
    """The first image a notebook's outputs show (base64 PNG), or None."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                return data["image/png"].replace("\n", "")
    return None


def title_of(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            return cell.source.lstrip().splitlines()[0].lstrip("# ").strip()
    return fallback


def run_one(path: Path, out: Path, params: dict) -> dict:
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    runs = out / "runs" / path.stem
    runs.mkdir(parents=True, exist_ok=True)
    executed = runs / path.name
    parameters = {**params, "out_dir": str(runs / "out")}
    pm.execute_notebook(str(path), str(executed), parameters=parameters, cwd=str(NB_DIR), progress_bar=False)
    nb = nbformat.read(executed, as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    (out / f"{path.stem}.html").write_text(body)
    return {"name": path.stem, "title": title_of(nb, path.stem), "thumb": first_png(nb)}


def index_html(entries: list[dict]) -> str:
    cards = []
    for e in entries:
        thumb = f'<img src="data:image/png;base64,{e["thumb"]}" alt="">' if e["thumb"] else "<div>no picture</div>"
        cards.append(
            f'<div class="card"><a href="{e["name"]}.html">{thumb}<h3>{html.escape(e["title"])}</h3></a>'
            f'<a href="{COLAB.format(name=e["name"])}">Open in Colab</a></div>'
        )
    style = (
        "body{font-family:sans-serif;margin:2em}.grid{display:flex;flex-wrap:wrap;gap:1.5em}"
        ".card{width:320px}.card img{width:320px;border:1px solid #ccc}h3{font-size:1em}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>lgfa-lite notebooks</title><style>{style}</style>"
        f"</head><body><h1>lgfa-lite notebooks</h1><div class='grid'>{''.join(cards)}</div></body></html>"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("only", nargs="*", help="notebook name prefixes (default: all)")
    ap.add_argument("--small", action="store_true", help="the test suite's tiny parameters (quick)")
    ap.add_argument("--out", default=str(ROOT / "gallery"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [p for p in sorted(NB_DIR.glob("*.ipynb")) if not args.only or p.stem.startswith(tuple(args.only))]
    if not paths:
        print(f"no notebook matches {args.only}", file=sys.stderr)
        return 2
    tiny = small_params() if args.small else {}
    entries = []
    for path in paths:
        print(f"[gallery] {path.stem} ...", flush=True)
        entries.append(run_one(path, out, tiny.get(path.stem, {})))
    (out / "index.html").write_text(index_html(entries))
    print(f"[gallery] {out / 'index.html'}: {len(entries)} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
