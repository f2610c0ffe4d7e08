# The setup cell every notebook starts with (tools/make_notebooks.py inserts it at
# "# %% include _setup.py"): in Colab install lgfa-lite, elsewhere use this checkout.
import subprocess
import sys
from pathlib import Path

if "google.colab" in sys.modules:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/lgfa-lite/lgfa-lite"],
        check=True,
    )
try:
    import lgfa_lite
except ImportError:  # not installed: find the repo root above the working directory
    root = next(
        (p for p in [Path.cwd(), *Path.cwd().parents] if (p / "lgfa_lite" / "__init__.py").is_file()),
        None,
    )
    if root is None:
        raise
    sys.path.insert(0, str(root))
    import lgfa_lite
print("lgfa_lite", lgfa_lite.__version__, "from", Path(lgfa_lite.__file__).parent)
