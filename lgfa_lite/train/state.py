"""Resumable training state in safetensors + JSON (never pickles).

A state folder holds `modules.safetensors` (every module's state dict, prefixed by its name),
`optimizers.safetensors` (optimizer tensors: Adam moments, step counts), `rng.safetensors`
and `state.json` (step, elapsed seconds, optimizer hyper-parameters, anything JSON-able).
Writes go to a temporary folder first and are swapped in, so a kill mid-save loses nothing.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

log = logging.getLogger(__name__)


@dataclass
class TrainingState:
    step: int = 0
    seconds: float = 0.0  # training wall time summed over runs
    extra: dict = field(default_factory=dict)


def _split_optimizer(opt: torch.optim.Optimizer, prefix: str):
    sd = opt.state_dict()
    tensors, state_meta = {}, {}
    for pid, st in sd["state"].items():
        state_meta[str(pid)] = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                state_meta[str(pid)][k] = v
    return tensors, {"param_groups": sd["param_groups"], "state": state_meta}


def save_training_state(folder, modules: dict, optimizers: dict, state: TrainingState) -> Path:
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {
        f"{name}.{k}": v.detach().cpu().contiguous() for name, m in modules.items() for k, v in m.state_dict().items()
    }
    save_file(weights, str(tmp / "modules.safetensors"))
    opt_tensors, opt_meta = {}, {}
    for name, opt in optimizers.items():
        t, meta = _split_optimizer(opt, name)
        opt_tensors.update(t)
        opt_meta[name] = meta
    save_file(opt_tensors, str(tmp / "optimizers.safetensors"))
    save_file({"torch": torch.get_rng_state()}, str(tmp / "rng.safetensors"))
    (tmp / "state.json").write_text(
        json.dumps(
            {"step": state.step, "seconds": state.seconds, "extra": state.extra, "optimizers": opt_meta}, indent=1
        )
    )
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def load_training_state(folder, modules: dict, optimizers: dict) -> TrainingState | None:
    """Restore modules, optimizers and the torch RNG from `folder`; None when there is none."""
    folder = Path(folder)
    if not (folder / "state.json").exists():
        return None
    meta = json.loads((folder / "state.json").read_text())
    weights = load_file(str(folder / "modules.safetensors"))
    for name, m in modules.items():
        saved = {k[len(name) + 1 :]: v for k, v in weights.items() if k.startswith(name + ".")}
        if saved or not m.state_dict():
            m.load_state_dict(saved)
        else:  # a module added since the state was saved (a resumed run that turns on its discriminator)
            log.warning("%s: no saved '%s' in the training state; it starts fresh", folder, name)
    opt_tensors = load_file(str(folder / "optimizers.safetensors"))
    for name, opt in optimizers.items():
        if name not in meta["optimizers"]:
            continue  # its module starts fresh (above)
        om = meta["optimizers"][name]
        state = {}
        for pid, scalars in om["state"].items():
            st = dict(scalars)
            pre = f"{name}.{pid}."
            st.update({k[len(pre) :]: v for k, v in opt_tensors.items() if k.startswith(pre)})
            state[int(pid)] = st
        opt.load_state_dict({"state": state, "param_groups": om["param_groups"]})
    torch.set_rng_state(load_file(str(folder / "rng.safetensors"))["torch"])
    return TrainingState(step=meta["step"], seconds=meta["seconds"], extra=meta.get("extra", {}))
