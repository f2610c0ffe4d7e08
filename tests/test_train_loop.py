"""The shared training loop: config overrides, resume, budget stop, and 2-process data parallel."""

import dataclasses
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from lgfa_lite.train.loop import TrainConfig, TrainLoop, cosine_lr, linear_decay_lr

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class ToyConfig(TrainConfig):
    loss_weights: dict = dataclasses.field(default_factory=lambda: {"a": 1.0, "b": 2.0})
    name: str = "toy"
    flag: bool = False
    betas: tuple = (0.0, 0.99)


def test_override_parses_types_and_rejects_unknown_keys():
    c = ToyConfig().override(
        ["steps", "7", "lr", "0.5", "loss_weights.b", "3", "name", "x", "flag", "true", "minutes", "2.5"]
    )
    assert (c.steps, c.lr, c.loss_weights, c.name, c.flag, c.minutes) == (7, 0.5, {"a": 1.0, "b": 3.0}, "x", True, 2.5)
    assert ToyConfig().loss_weights == {"a": 1.0, "b": 2.0}  # the default is not mutated
    assert ToyConfig().override(["betas", "0.5,0.9"]).betas == (0.5, 0.9)
    assert ToyConfig().override(["betas", "(0, 0.999)"]).betas == (0.0, 0.999)
    for bad in (
        ["nope", "1"],
        ["steps"],
        ["steps", "many"],
        ["weights.c", "1"],
        ["flag", "maybe"],
        ["betas", "0.5"],
        ["betas", "a,b"],
    ):
        with pytest.raises(ValueError):
            ToyConfig().override(bad)


def test_lr_schedules():
    assert linear_decay_lr(1.0, 0.2) == 1.0 and linear_decay_lr(1.0, 0.75) == pytest.approx(0.5)
    assert linear_decay_lr(1.0, 1.0) == 0.0
    assert cosine_lr(1.0, 0.01) < cosine_lr(1.0, 0.02) and cosine_lr(1.0, 1.0) == pytest.approx(0.0)


def _fit(config, model=None):
    """Fit y = 3x with the loop; returns (model, loop)."""
    model = model or torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loop = TrainLoop(config, {"model": model}, {"opt": opt})
    for _ in loop:
        x = torch.randn(8, 1, generator=loop.generator)
        loss = (model(x) - 3 * x).pow(2).mean()
        loop.step(opt, loss, model)
        loop.log(loss=loss)
    return model, loop


def test_loop_trains_logs_and_resumes(tmp_path):
    cfg = TrainConfig(steps=40, log_every=10, work_dir=str(tmp_path / "state"), progress=False)
    model, loop = _fit(cfg)
    assert loop.state.step == 40 and [r["step"] for r in loop.history] == [10, 20, 30, 40]
    assert loop.history[-1]["loss"] < loop.history[0]["loss"]
    # resuming with more steps continues from 40 with the saved weights and history
    fresh = torch.nn.Linear(1, 1)
    model2, loop2 = _fit(dataclasses.replace(cfg, steps=60), fresh)
    assert loop2.state.step == 60 and len(loop2.history) == 6
    assert abs(float(model2.weight.detach()) - 3) < abs(float(model.weight.detach()) - 3) + 1e-3


def test_loop_stops_at_time_budget(tmp_path):
    cfg = TrainConfig(steps=10**9, minutes=0.5 / 60, progress=False)  # half a second
    _, loop = _fit(cfg)
    assert 0 < loop.state.step < 10**9 and loop.minutes < 0.5


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_two_process_data_parallel_stays_in_sync(tmp_path):
    """torchrun-style launch (env://, gloo): ranks draw different batches, weights stay identical."""
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(ROOT)!r})
        from lgfa_lite.train.loop import TrainConfig, TrainLoop
        torch.manual_seed(int(__import__("os").environ["RANK"]))  # different init per rank on purpose
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        loop = TrainLoop(TrainConfig(steps=15, progress=False), {{"m": model}}, {{"opt": opt}})
        first = None
        for _ in loop:
            x = torch.randn(4, 4, generator=loop.generator)
            first = x if first is None else first
            loop.step(opt, (model(x) - x.sum(1, keepdim=True)).pow(2).mean(), model)
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        torch.save({{"params": flat, "first": first, "steps": loop.state.step}}, sys.argv[1] + f"/rank{{loop.rank}}.pt")
    """)
    )
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env))
    assert [p.wait(timeout=240) for p in procs] == [0, 0]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))  # our own test files
    assert r0["steps"] == r1["steps"] == 15
    assert not torch.equal(r0["first"], r1["first"])  # each rank its own data
    assert torch.allclose(r0["params"], r1["params"], atol=1e-6)  # ... and one model


def test_log_rows_are_per_key_means():
    m = torch.nn.Linear(1, 1)
    loop = TrainLoop(
        ToyConfig(steps=4, log_every=2, progress=False), {"m": m}, {"m": torch.optim.SGD(m.parameters(), 0.1)}
    )
    for step in loop:
        loop.log(a=step, b=10.0, c=1.0)
        if step % 2:
            loop.log(d=step)  # a key logged on some steps only
    assert loop.history[0] == {
        "step": 2,
        "minutes": loop.history[0]["minutes"],
        "a": 0.5,
        "b": 10.0,
        "c": 1.0,
        "d": 1.0,
    }
    assert loop.history[1]["a"] == 2.5 and loop.history[1]["d"] == 3.0


def test_device_option():
    from lgfa_lite.train.loop import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no GPU"):
            resolve_device("cuda")
    # the loop puts its modules on the config's device, in place (the optimizer keeps its parameters)
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), 0.1)
    loop = TrainLoop(TrainConfig(steps=1, device="auto", progress=False), {"m": model}, {"m": opt}, device_ready=True)
    assert model.weight.device.type == loop.device.type
    assert opt.param_groups[0]["params"][0] is model.weight
    # a trainer that does not move its batches refuses another device up front
    with pytest.raises(ValueError, match="CPU only"):
        TrainLoop(TrainConfig(steps=1, device="meta", progress=False), {"m": model}, {"m": opt})
