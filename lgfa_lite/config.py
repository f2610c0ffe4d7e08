"""The settings every trainer shares (`TrainConfig`) and their `--opts KEY VAL` overrides.

A method's config dataclass subclasses `TrainConfig` with its own fields. It lives here, apart
from the training loop (`lgfa_lite.train.loop`), so that a method module can define its config
without importing any training code.
"""

from __future__ import annotations

import ast
import dataclasses


@dataclasses.dataclass
class TrainConfig:
    """Loop settings shared by every trainer; methods subclass it with their own fields."""

    steps: int = 1000
    batch: int = 16
    lr: float = 1e-4
    minutes: float | None = None  # wall-time budget summed over resumed runs; whichever of steps/minutes ends first
    seed: int = 0
    work_dir: str = ""  # resumable state; "" = no checkpoints
    save_every_s: float = 180.0
    log_every: int = 25
    progress: bool = True
    device: str = "cpu"  # "cuda" or "auto" (cuda when there is one); the lite recipes are CPU runs

    def override(self, opts: list[str]) -> "TrainConfig":
        """A copy with `KEY VAL` pairs applied, as the original LGFA's `--opts KEY VAL ...`.
        Values are parsed by the field's type; dict fields take `KEY.SUBKEY VAL`."""
        if len(opts) % 2:
            raise ValueError(f"--opts takes KEY VAL pairs, got an odd count: {opts}")
        changes = {}
        fields = {f.name: f for f in dataclasses.fields(self)}
        for key, raw in zip(opts[::2], opts[1::2]):
            name, _, sub = key.partition(".")
            if name not in fields:
                raise ValueError(f"unknown option {key!r}; options: {', '.join(sorted(fields))}")
            current = changes.get(name, getattr(self, name))
            if sub:
                if not isinstance(current, dict) or sub not in current:
                    raise ValueError(f"unknown option {key!r}")
                current = dict(current)
                current[sub] = _parse(raw, current[sub], key)
                changes[name] = current
            else:
                changes[name] = _parse(raw, current, key)
        return dataclasses.replace(self, **changes)


def _parse(raw: str, like, key: str):
    try:
        if isinstance(like, bool):
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
        if isinstance(like, int):
            return int(raw)
        if isinstance(like, float) or like is None:
            return None if raw.lower() == "none" else float(raw)
        if isinstance(like, (tuple, list)):  # "0.9,0.99" or "(0.9, 0.99)"
            value = ast.literal_eval(raw if raw.strip()[:1] in "([" else f"({raw},)")
            if not isinstance(value, (tuple, list)) or len(value) != len(like):
                raise ValueError(raw)
            return type(like)(float(v) if isinstance(x, float) else type(x)(v) for x, v in zip(like, value))
        return type(like)(raw)
    except ValueError:
        raise ValueError(f"option {key}: cannot read {raw!r} as {type(like).__name__}") from None
