"""The Space's tabs, one module each.

A tab module defines ``TITLE`` (tab label), ``ORDER`` (position, smaller first) and
``build()``, which creates the tab's components and events; app.py calls it inside a
``gr.Tab(TITLE)``. Importing a tab module must stay cheap: load models lazily, on first
use. To add a tab, write ``demos/<name>.py`` and add one line to ``_TAB_MODULES``.
"""

from importlib import import_module

_TAB_MODULES = [
    "synthfaces",  # SynthFaces playground
    "lgfa",  # LGFA: a face + a sentence -> a video
    "gdpw",  # GDPW: reenactment and 3D-parameter editing (real photos keep their look)
    "ganimation",  # GANimation: AU-conditioned expression editing
    "projection",  # StyleGAN2 landmark projection: look of one face, landmarks of another
    "auclip",  # AU-CLIP: AU-increment W+ mapper (edit, transfer, animate)
    "about",  # the methods, the profiles, the benchmark numbers
]

TABS = sorted((import_module(f"{__name__}.{m}") for m in _TAB_MODULES), key=lambda m: m.ORDER)
