"""The Space in a real browser (Debian's chromium through playwright, headless, no browser
download): visit every tab, run its first example, upload the astronaut photo; the outputs are
populated and no error badge is left; a refused LGFA sentence leaves the last video on screen.
A screenshot per tab goes to a tmp folder (printed).

Skips when /usr/bin/chromium or the playwright package is missing (`.ci/run` installs both)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.app,
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no {CHROMIUM}: apt-get install -y chromium"),
]
playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _shipped(method: str) -> bool:
    from importlib import import_module

    weights = import_module(f"lgfa_lite.methods.{method}").WEIGHTS
    return (Path(__file__).resolve().parents[1] / "weights" / weights / "config.json").is_file()


# tab title prefix -> (method whose checkpoint the example needs, or None; takes a photo upload)
TABS = {
    "SynthFaces playground": (None, False),
    "LGFA": ("lgfa", True),
    "GDPW": ("gdpw", True),
    "GANimation": ("ganimation", True),
    "AU-CLIP": ("auclip", True),
    "Landmark projection": (None, True),
    "About": (None, False),
}


@pytest.mark.timeout(600)
def test_every_tab_in_a_browser(tmp_path_factory):
    from PIL import Image
    from skimage import data

    import app

    shots = tmp_path_factory.mktemp("screenshots")
    photo = shots / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    demo = app.build_demo()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(**{**app.launch_kwargs(), "server_port": port}, prevent_thread_lock=True, quiet=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(180_000)
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("tab").first.wait_for()
            for title, (method, takes_photo) in TABS.items():
                page.get_by_role("tab", name=title).first.click()
                panel = page.locator("[role=tabpanel]:visible").first  # the outer tab (GDPW has inner tabs)
                runs = method is None or _shipped(method)
                examples = panel.locator(".block", has_text="click one").locator("button.gallery-item, tbody tr")
                if runs and examples.count():
                    examples.first.click()
                    _settle(page)
                if takes_photo:
                    panel.locator("input[type=file]").first.set_input_files(str(photo))
                    _settle(page)
                page.screenshot(path=str(shots / f"{title.split(':')[0].replace(' ', '_')}.png"), full_page=True)
                if runs and title != "About":  # a tab without its checkpoint shows its notice instead
                    assert panel.locator("img:visible").count() > 0, f"{title}: no output image"
                if runs:
                    badges = panel.locator(".error:visible", has_text="Error")  # on controls (not toasts)
                    assert badges.count() == 0, f"{title}: error badge left: {badges.all_inner_texts()[:3]}"
                if title == "LGFA" and runs:  # a refused sentence: a message, and the last video stays
                    panel.get_by_label("Sentence").fill("")
                    panel.get_by_role("button", name="Animate").click()
                    page.get_by_text("The sentence is empty").first.wait_for()
                    _settle(page)
                    assert panel.locator("video").count() == 1 and badges.count() == 0
            browser.close()
        print(f"screenshots: {shots}")
    finally:
        demo.close()


def _settle(page) -> None:
    """Wait until no event is running (no progress bars or spinners left)."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('.progress-text, .eta-bar, .meta-text-center, .generating')",
        timeout=180_000,
    )
    page.wait_for_timeout(500)
