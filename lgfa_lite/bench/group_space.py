"""Benchmark group ``space``: the Space as users meet it (issue 35).

- ``cold_start_s``: ``python app.py`` (a fresh process) to the first page served.
- ``first_result_s_<tab>``: a fresh session's first result per tab, lazy model loads included
  (pick a sample face where the tab needs one, then its main button with the UI's defaults); for a
  tab that shows previews while it works (projection), its first preview, and
  ``final_result_s_<tab>`` its final result.
  A tab whose checkpoint is not in weights/ is left out (``tabs_without_checkpoint`` counts them).
- ``real_photo_faces_found`` of ``real_photo_frontal_faces``: faces FaceMesh finds in the offline
  photos the installed packages ship with a frontal human face (skimage's astronaut, matplotlib's
  grace_hopper); ``real_photo_false_faces``: faces "found" in their photos without a person (cat,
  coffee, rocket, ...). skimage's cameraman (a face turned to his camera) is in neither list.
- ``load_test_*``, ``peak_rss_mb``: `load_test` below, ``clients`` concurrent gradio_client
  sessions on mixed endpoints, loopback only; the server's peak RSS (with its child processes).

Quick mode (tests): the cold start, one tab's first result, 2 clients for 5 s.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from lgfa_lite.bench import register

ROOT = Path(__file__).resolve().parents[2]
FRONTAL = {"astronaut": "skimage.data.astronaut", "grace_hopper": "matplotlib sample_data/grace_hopper.jpg"}
NO_PERSON = ["chelsea", "cat", "coffee", "rocket", "retina", "immunohistochemistry", "hubble_deep_field", "clock"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int | None = None, timeout: float = 120.0):
    """`python app.py` on 127.0.0.1:`port` -> (process, url, seconds to the first page served)."""
    port = port or free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200 and r.read(1):
                    return proc, url, time.perf_counter() - t0
        except OSError:
            pass
        if proc.poll() is not None or time.perf_counter() - t0 > timeout:
            proc.kill()
            raise RuntimeError(f"app.py did not serve {url} within {timeout:.0f} s (exit {proc.poll()})")
        time.sleep(0.05)


def stop_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def shipped(method: str) -> bool:
    from importlib import import_module

    weights = import_module(f"lgfa_lite.methods.{method}").WEIGHTS
    return (ROOT / "weights" / weights / "config.json").is_file()


def client(url: str, out_dir):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=str(out_dir), httpx_kwargs={"timeout": 600})


# each tab's first result: (setup calls, the timed main call); calls are (args, kwargs)
FIRST = {
    "synthfaces": ([], ((), {"api_name": "/render"})),
    "lgfa": ([((3,), {"api_name": "/lgfa_sample_face"})], ((), {"api_name": "/lgfa_animate"})),
    "gdpw": ([((3,), {"api_name": "/gdpw_sample_face"})], ((), {"api_name": "/gdpw_edit"})),
    "ganimation": ([((3,), {"api_name": "/ganimation_sample_face"})], ((), {"api_name": "/ganimation_edit"})),
    "auclip": ([((3,), {"api_name": "/auclip_sample_face"})], ((), {"api_name": "/auclip_edit"})),
    "projection": ([((3,), {"api_name": "/projection_sample_look"})], ((), {"api_name": "/project"})),
}
NEEDS = {"gdpw": "gdpw", "ganimation": "ganimation", "auclip": "auclip", "lgfa": "lgfa"}


def first_results(url: str, tabs, out_dir) -> dict[str, tuple[float, float]]:
    """Seconds from a fresh session's first click (sample face, then the main button) to the first
    result the tab shows (a streaming tab's first preview) and to its final result."""
    out = {}
    for tab in tabs:
        c = client(url, out_dir)
        setup, (args, kwargs) = FIRST[tab]
        t0 = time.perf_counter()
        for a, k in setup:
            c.predict(*a, **k)
        job = c.submit(*args, **kwargs)
        try:
            next(iter(job))
        except StopIteration:  # finished without an output: result() raises its error
            job.result()
        first = time.perf_counter() - t0
        job.result()
        out[tab] = first, time.perf_counter() - t0
    return out


def real_photo_counts() -> dict[str, int]:
    import matplotlib.cbook
    from skimage import data

    from lgfa_lite.faces import photo_landmarks, read_image

    frontal = [data.astronaut(), read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))]
    found = sum(len(photo_landmarks(read_image(p))) > 0 for p in frontal)
    false = sum(len(photo_landmarks(read_image(getattr(data, n)()))) for n in NO_PERSON if hasattr(data, n))
    return {"real_photo_frontal_faces": len(frontal), "real_photo_faces_found": found, "real_photo_false_faces": false}


def _requests(tabs) -> list:
    """The load test's mix: (name, fn(client, rng) -> None, valid)."""

    def render(c, rng):
        c.predict(identity_seed=rng.randrange(10**5), resolution=rng.choice(["64", "128"]), api_name="/render")

    def preset(c, rng):
        c.predict(preset=rng.choice(["smiling", "surprised", "sad"]), resolution="64", api_name="/apply_preset")

    def motion(c, rng):
        c.predict(motion=rng.choice(["nod", "smile", "turn left"]), frames=8, resolution="64", api_name="/play_motion")

    def lgfa(c, rng):
        c.predict(rng.choice(["The person nods.", "The person turns left."]), frames=8, api_name="/lgfa_animate")

    def auclip(c, rng):
        c.predict(au25_lips_part=rng.random(), api_name="/auclip_edit")

    def project(c, rng):
        c.predict(steps=20, api_name="/project")

    def refused(c, rng):  # an invalid request: must be refused with a message
        c.predict(resolution="99", api_name="/render")

    mix = [("render", render, True), ("preset", preset, True), ("motion", motion, True), ("refused", refused, False)]
    mix += [(n, f, True) for n, f in (("lgfa", lgfa), ("auclip", auclip), ("projection", project)) if n in tabs]
    return mix


def load_test(url: str, pid: int, clients: int = 8, seconds: float = 120.0, tabs=None, log=print) -> dict:
    """`clients` threads, each a gradio_client session, send a random mix for `seconds`; the
    server process `pid` (and its children) is sampled for RSS. Returns the counts and latencies."""
    import numpy as np
    import psutil

    tabs = set(("lgfa", "auclip", "projection") if tabs is None else tabs)
    mix = _requests(tabs)
    lat: list[float] = []
    failed: list[str] = []
    counts = {"valid": 0, "invalid_refused": 0, "invalid_accepted": 0}
    lock, stop = threading.Lock(), threading.Event()
    peak = [0]
    server = psutil.Process(pid)

    def sample():
        while not stop.is_set():
            try:
                rss = server.memory_info().rss + sum(
                    ch.memory_info().rss for ch in server.children(recursive=True) if ch.is_running()
                )
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            stop.wait(0.25)

    def worker(i: int, out_dir):
        from gradio_client.exceptions import AppError

        rng = random.Random(i)
        c = client(url, out_dir)
        for name in ("lgfa", "auclip", "projection"):
            if name in tabs:
                api = {"projection": "/projection_sample_look"}.get(name, f"/{name}_sample_face")
                c.predict(rng.randrange(100), api_name=api)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            name, fn, valid = rng.choice(mix)
            t0 = time.perf_counter()
            try:
                fn(c, rng)
                ok, err = True, None
            except AppError as e:
                ok, err = False, f"{name}: {e}"
            except Exception as e:  # noqa: BLE001 (a transport failure is a failed request too)
                ok, err = False, f"{name}: {type(e).__name__}: {e}"
            dt = time.perf_counter() - t0
            with lock:
                if valid:
                    counts["valid"] += 1
                    lat.append(dt)
                    if not ok:
                        failed.append(err)
                else:
                    counts["invalid_refused" if not ok else "invalid_accepted"] += 1

    with tempfile.TemporaryDirectory() as tmp:
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        threads = [threading.Thread(target=worker, args=(i, Path(tmp) / str(i))) for i in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
    for f in failed[:10]:
        log(f"  failed valid request: {f}")
    a = np.array(lat or [float("nan")])
    return {
        "load_test_clients": clients,
        "load_test_seconds": seconds,
        "load_test_valid_requests": counts["valid"],
        "load_test_failed_valid_requests": len(failed),
        "load_test_invalid_refused": counts["invalid_refused"],
        "load_test_invalid_accepted": counts["invalid_accepted"],
        "load_test_requests_per_s": counts["valid"] / wall,
        "load_test_latency_p50_s": float(np.percentile(a, 50)),
        "load_test_latency_p95_s": float(np.percentile(a, 95)),
        "peak_rss_mb": peak[0] / 2**20,
    }


@register("space")
def space(quick: bool) -> dict:
    tabs = ["synthfaces"] if quick else [t for t in FIRST if t not in NEEDS or shipped(NEEDS[t])]
    proc, url, cold = start_server()
    out: dict = {"cold_start_s": cold}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for tab, (first, final) in first_results(url, tabs, tmp).items():
                out[f"first_result_s_{tab}"] = first
                if final - first > 0.5:  # a tab that streams previews: when its final result came
                    out[f"final_result_s_{tab}"] = final
        if not quick:
            out["tabs_without_checkpoint"] = sum(not shipped(m) for m in NEEDS.values())
        load_tabs = () if quick else [t for t in ("lgfa", "auclip", "projection") if t in tabs]
        out.update(load_test(url, proc.pid, 2 if quick else 8, 5.0 if quick else 120.0, tabs=load_tabs))
    finally:
        stop_server(proc)
    out.update(real_photo_counts())
    return out
