"""lgfa-lite Space: `python app.py` serves it (lite profile, CPU, offline).

build_demo() assembles one tab per module listed in demos/__init__.py. Nothing is
rendered or loaded at import; models load on first use. Host and port come from
GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (default 127.0.0.1:7860).
"""

from __future__ import annotations

import os
import threading

import gradio as gr

import demos
from lgfa_lite import __version__

HEADER = f"""
# lgfa-lite
Five face-animation and face-editing methods re-implemented on shared PyTorch building
blocks (v{__version__}). This Space runs the **lite profile** on **CPU**, offline: every
model is small, trained here on *SynthFaces*, a procedural 3D face world with exact
ground truth (identity, 68 landmarks, action units, pose, captions).
"""


def build_demo() -> gr.Blocks:
    """The whole Space as a gr.Blocks (not launched)."""
    with gr.Blocks(title="lgfa-lite") as demo:
        gr.Markdown(HEADER)
        with gr.Tabs():
            for tab in demos.TABS:
                with gr.Tab(tab.TITLE):
                    tab.build()
    # CPU-bound requests run two at a time (a small CPU's cores); the rest wait, their place shown
    return demo.queue(default_concurrency_limit=2, max_size=64)


def launch_kwargs() -> dict:
    """launch() arguments: host/port from the environment, theme (Gradio 6: on launch)."""
    return {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        "theme": gr.themes.Soft(),  # an object: a theme name string may be looked up online
        # a value Gradio cannot read (e.g. text for a slider) gets its reason, not "verbose error
        # reporting is off"; the app's own errors are gr.Error (shown either way, tracebacks never)
        "show_error": True,
    }


def warm_up() -> None:
    """Import torch and build the renderer's mesh once, so the first click is fast."""
    for tab in demos.TABS:
        if hasattr(tab, "warm_up"):
            tab.warm_up()


if __name__ == "__main__":
    demo = build_demo()
    # In the background while the server starts: the page is usable at once, the first
    # render no longer pays the one-time imports and mesh construction.
    threading.Thread(target=warm_up, daemon=True).start()
    demo.launch(**launch_kwargs())
