"""Every notebooks/*.ipynb runs top to bottom under papermill with small parameters,
is committed without outputs, and matches its source in notebooks/src/."""

import importlib.util
import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))

# Small values for each notebook's `parameters` cell (out_dir is always added, in tmp_path).
SMALL_PARAMS = {
    "01_train_stylegan2": {
        "g_steps": 2,
        "g_minutes": 1.0,
        "e_steps": 2,
        "e_minutes": 1.0,
        "batch": 4,
        "use_shipped": False,
        "n_test": 2,
    },
    "00_synthfaces": {
        "resolution": 64,
        "n_identities": 2,
        "sweep_steps": 2,
        "frames": 4,
        "fps": 4,
        "legibility_identities": 2,
    },
    "03_landmark_projection": {"steps": 8, "later_steps": 3, "frames": 3},
    "02_train_perception": {"net": "au", "steps": 3, "minutes": 1.0, "batch": 8, "train_size": 256, "test_size": 16},
    "04_ganimation": {
        "steps": 4,
        "minutes": 1.0,
        "batch": 2,
        "n_critic": 2,
        "conv_dim": 8,
        "repeat_num": 1,
        "train_size": 256,
        "test_size": 4,
        "use_shipped": False,
    },
    "05_auclip": {
        "steps": 2,
        "minutes": 1.0,
        "batch": 2,
        "train_faces": 8,
        "hidden": 16,
        "depth": 2,
        "use_shipped": False,
        "n_faces": 2,
        "frames": 4,
    },
    "07_gdpw": {"steps": 2, "minutes": 1.0, "batch": 2, "n_pairs": 2, "sweep_steps": 3, "use_shipped": False},
    "06_lgfa": {
        "steps": 2,
        "minutes": 1.0,
        "batch": 2,
        "frames": 3,
        "train_faces": 8,
        "pair_faces": 2,
        "clip_lr": 1e-4,
        "frozen": "tiny",
        "video_frames": 4,
        "n_faces": 1,
    },
}


def _ids(paths):
    return [p.stem for p in paths]


def _check_python3_kernel():
    """papermill runs kernel "python3": it must start this interpreter (see .ci/run)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
    except NoSuchKernel:
        pytest.fail("no Jupyter kernel named python3: run python -m ipykernel install --sys-prefix --name python3")
    # jupyter_client replaces a bare "python" with the running interpreter
    same_env = os.path.dirname(os.path.abspath(argv0)) == os.path.dirname(os.path.abspath(sys.executable))
    if argv0 not in ("python", "python3") and not same_env:
        pytest.fail(
            f"kernel python3 starts {argv0}, not {sys.executable}: "
            "run python -m ipykernel install --sys-prefix --name python3"
        )


def test_notebooks_exist():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{nb_path.name}: a cell has outputs"
            assert cell.execution_count is None, f"{nb_path.name}: a cell has an execution count"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{nb_path.name}: needs exactly one cell tagged 'parameters'"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def test_notebooks_match_sources():
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    for src in sorted(p for p in (NB_DIR / "src").glob("*.py") if not p.name.startswith("_")):  # _*: shared cells
        dst = NB_DIR / f"{src.stem}.ipynb"
        assert dst.is_file(), f"{dst.name} missing: run python tools/make_notebooks.py"
        assert dst.read_text() == mk.render(mk.build_notebook(src)), (
            f"{dst.name} is out of date with notebooks/src/{src.name}: run python tools/make_notebooks.py"
        )


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(nb_path, tmp_path):
    _run_notebook(nb_path, tmp_path, SMALL_PARAMS.get(nb_path.stem, {}))


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(
    not all(
        (ROOT / "weights" / w).is_dir()
        for w in (
            "lgfa-synthfaces-64",
            "clip-synthfaces2-64",
            "stylegan2-synthfaces2-64",
            "encoder-synthfaces2-64",
            "identity-synthfaces2-64",
        )
    ),
    reason="the shipped LGFA animator and its frozen nets are not all in weights/",
)
def test_lgfa_notebook_runs_on_the_shipped_weights(tmp_path):
    """The cells that show the shipped animator (the notebook's default) run too, not only the
    tiny-net smoke path: one training step on the shipped frozen nets, then every figure."""
    params = {**SMALL_PARAMS["06_lgfa"], "frozen": "shipped", "use_shipped": True, "steps": 1}
    executed = _run_notebook(NB_DIR / "06_lgfa.ipynb", tmp_path, params)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "showing the shipped animator" in text
    assert list((tmp_path / "out").glob("face0_prompt*.mp4"))


def _run_notebook(nb_path, tmp_path, small_params):
    papermill = pytest.importorskip("papermill")
    _check_python3_kernel()
    params = {**small_params, "out_dir": str(tmp_path / "out")}
    out_nb = tmp_path / nb_path.name
    papermill.execute_notebook(
        str(nb_path),
        str(out_nb),
        parameters=params,
        kernel_name="python3",
        cwd=str(NB_DIR),
        progress_bar=False,
        log_output=False,
        execution_timeout=540,
    )
    executed = nbformat.read(out_nb, as_version=4)
    errors = [
        o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors
    assert any((tmp_path / "out").iterdir()), "the notebook wrote nothing to out_dir"
    return executed


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_gallery_renders_an_executed_notebook_with_its_thumbnail(tmp_path):
    spec = importlib.util.spec_from_file_location("make_gallery", ROOT / "tools" / "make_gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    _check_python3_kernel()
    assert gallery.main(["00_", "--small", "--out", str(tmp_path)]) == 0
    index = (tmp_path / "index.html").read_text()
    assert 'href="00_synthfaces.html"' in index and "data:image/png;base64," in index and "Open in Colab" in index
    assert "<html" in (tmp_path / "00_synthfaces.html").read_text()
    assert gallery.main(["zz_", "--out", str(tmp_path)]) == 2
