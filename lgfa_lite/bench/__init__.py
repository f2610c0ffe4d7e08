"""Benchmarks: metric helpers and the runner (``python -m lgfa_lite.bench``).

A benchmark group is a function ``fn(quick: bool) -> dict[str, float]`` registered with
``@register("name")`` in a module ``lgfa_lite/bench/group_<name>.py``; the runner imports
every ``group_*`` module, so adding a group means adding one file. This module stays free of
heavy imports so that groups and metric modules can import it cheaply.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

GROUPS: dict[str, Callable[[bool], dict[str, float]]] = {}


def card_results(name: str) -> dict:
    """The measured numbers a shipped checkpoint's model card records ({} when not shipped)."""
    from lgfa_lite import hub

    try:
        return hub.read_card(hub.resolve(name)).get("results", {})
    except hub.CheckpointError:
        return {}


def card_minutes(name: str) -> dict:
    """{"train_minutes": ...} from a shipped checkpoint's card, or {} when it records none."""
    card = card_results(name)
    return {"train_minutes": float(card["train_minutes"])} if "train_minutes" in card else {}


def median_seconds(fn: Callable[[], object], reps: int) -> float:
    """Median wall time of `fn()` over `reps` calls after one warm-up call. Every per-call
    latency in the benchmarks uses it: a median ignores the odd call this shared VM stalls."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def register(name: str):
    """Register ``fn(quick: bool) -> dict[str, float]`` as benchmark group ``name``."""

    def deco(fn):
        if GROUPS.get(name, fn) is not fn:
            raise ValueError(f"benchmark group {name!r} is already registered")
        GROUPS[name] = fn
        return fn

    return deco
