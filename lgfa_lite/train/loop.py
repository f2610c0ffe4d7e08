"""One training loop for every lgfa-lite model: single process, or `torchrun` data parallel.

    loop = TrainLoop(config, modules={"G": G, "D": D}, optimizers={"G": opt_g, "D": opt_d})
    for step in loop:                      # resumes from config.work_dir; ends at steps or minutes
        loss = ...
        loop.step(opt_g, loss, G)          # zero_grad, backward, average grads over ranks, clip, step
        loop.log(loss=loss)

Under `torchrun --nproc_per_node N` (gloo on CPU, NCCL on GPU) every rank draws its own batch
(seeded by rank) and gradients are averaged with one all-reduce per optimizer step. That is
what DistributedDataParallel does, done by hand because GAN steps (alternating nets, gradient
penalties with double backward) are outside what DDP supports. Rank 0 logs, shows progress
and writes the resumable state; a budget stop is decided on rank 0 so all ranks stop together.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from lgfa_lite import hub
from lgfa_lite._memory import keep_freed_memory
from lgfa_lite.config import TrainConfig

from .state import TrainingState, load_training_state, save_training_state


def cli_parser(description: str) -> argparse.ArgumentParser:
    """The options every training entry point takes: --steps, --minutes, --fresh, --opts KEY VAL."""
    return add_train_options(argparse.ArgumentParser(description=description))


def add_train_options(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    ap.add_argument("--steps", type=int)
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--fresh", action="store_true", help="start over (ignore the saved training state)")
    ap.add_argument("--opts", nargs="*", default=[], help="KEY VAL overrides of the config fields")
    return ap


def method_cli(module: str, description: str, config: TrainConfig, argv=None) -> TrainConfig:
    """A method's command line, `python -m <module> train [--steps N] [--minutes M] [--fresh]
    [--opts KEY VAL ...]`, read into `config` (`config_from_cli`)."""
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    commands = ap.add_subparsers(dest="command", required=True, metavar="command")
    add_train_options(commands.add_parser("train", help=description, description=description))
    return config_from_cli(config, ap.parse_args(argv))


def config_from_cli(config: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    """`config` with the parsed command line applied; --fresh removes the saved state."""
    config = config.override(args.opts)
    if args.steps:
        config = dataclasses.replace(config, steps=args.steps)
    if args.minutes:
        config = dataclasses.replace(config, minutes=args.minutes)
    if args.fresh and config.work_dir:
        shutil.rmtree(config.work_dir, ignore_errors=True)
    logging.basicConfig(level=logging.INFO)
    return config


def resolve_device(name: str, rank: int = 0) -> torch.device:
    """The config's device: "auto" is cuda when available; each rank of a GPU run takes its own card."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device cuda was asked for, but torch sees no GPU here (use device cpu or auto)")
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    return device


def distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        atexit.register(_leave_process_group)
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def _leave_process_group():
    """Shut the process group down before the interpreter exits: left to process teardown, gloo's
    threads can abort a rank that finished cleanly ("terminate called without an active
    exception")."""
    if dist.is_initialized():
        dist.destroy_process_group()


class TrainLoop:
    def __init__(
        self,
        config: TrainConfig,
        modules: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        desc: str | None = None,
        device_ready: bool = False,
    ):
        """`device_ready`: the method moves its batches to `loop.device`; other trainers are CPU
        recipes and refuse another device with a clear message instead of a mixed-device error."""
        self.config, self.modules, self.optimizers = config, modules, optimizers
        self.desc = desc or config.__class__.__name__  # the progress bar's label
        self.rank, self.world = distributed()
        self.is_main = self.rank == 0
        self.device = resolve_device(config.device, self.rank)
        if self.device.type != "cpu" and not device_ready:
            raise ValueError(f"{self.desc} trains on the CPU only (device cpu); asked for {config.device}")
        for m in modules.values():  # in place: the optimizers keep their parameters
            m.to(self.device)
        keep_freed_memory()  # the same big activations every step: keep their pages
        self.work_dir = Path(config.work_dir) if config.work_dir else None
        self.state = None
        if self.work_dir is not None:
            self.state = load_training_state(self.work_dir, modules, optimizers)
        self.state = self.state or TrainingState()
        self.history: list[dict] = self.state.extra.setdefault("history", [])
        # every rank starts from rank 0's weights, then draws its own batches
        if self.world > 1:
            for m in modules.values():
                for t in list(m.parameters()) + list(m.buffers()):
                    dist.broadcast(t.data, 0)
        self.generator = torch.Generator().manual_seed(config.seed * 1009 + self.rank * 7919 + self.state.step)
        self._bar = None
        self._pending: dict[str, tuple[float, int]] = {}

    # ------------------------------------------------------------------ iteration
    @property
    def progress(self) -> float:
        """Fraction of the run done (by steps or by the time budget, whichever is further)."""
        budget = self.config.minutes * 60 if self.config.minutes else math.inf
        return max(self.state.step / max(1, self.config.steps), self._seconds() / budget)

    def _seconds(self) -> float:
        return self.state.seconds + (time.time() - self._t_run if hasattr(self, "_t_run") else 0.0)

    def _should_stop(self) -> bool:
        stop = torch.tensor([float(self.progress >= 1)], device=self.device)
        if self.world > 1:
            dist.broadcast(stop, 0)
        return bool(stop.item())

    def __iter__(self) -> Iterator[int]:
        for m in self.modules.values():
            m.train()
        self._t_run = self._t_saved = time.time()
        self._bar = tqdm(
            total=self.config.steps,
            initial=self.state.step,
            desc=self.desc,
            disable=not (self.config.progress and self.is_main),
        )
        try:
            while not self._should_stop():
                yield self.state.step
                self.state.step += 1
                self._bar.update(1)
                if self.state.step % self.config.log_every == 0:
                    self._flush_log()
                if self.work_dir is not None and time.time() - self._t_saved > self.config.save_every_s:
                    self.save()
        finally:
            self._flush_log()  # the last, partial logging window
            self._bar.close()
            self.save()

    def save(self):
        """Write the resumable state (rank 0); called every `save_every_s` and at the end."""
        self.state.seconds += time.time() - self._t_run
        self._t_run = self._t_saved = time.time()
        if self.work_dir is not None and self.is_main:
            save_training_state(self.work_dir, self.modules, self.optimizers, self.state)

    @property
    def minutes(self) -> float:
        return self._seconds() / 60

    @property
    def hardware(self) -> str:
        """Where the run trains, in words, for model cards."""
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return f"a {os.cpu_count()}-core CPU"

    # ------------------------------------------------------------------ one update
    def step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, module: nn.Module, clip: float | None = 10.0):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in module.parameters() if p.requires_grad]
        if self.world > 1:
            sync_gradients(params, self.world)
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()

    def set_lr(self, optimizer: torch.optim.Optimizer, lr: float):
        for g in optimizer.param_groups:
            g["lr"] = lr

    def log(self, **values):
        """Record scalars for this step; every `log_every` steps one row of per-key means goes to history."""
        for k, v in values.items():
            v = float(v.detach()) if torch.is_tensor(v) else float(v)
            total, count = self._pending.get(k, (0.0, 0))
            self._pending[k] = (total + v, count + 1)

    def _flush_log(self):
        if not self._pending:
            return
        row = {
            "step": self.state.step,
            "minutes": round(self.minutes, 2),
            **{k: total / count for k, (total, count) in self._pending.items()},
        }
        self._pending = {}
        if self.is_main:
            self.history.append(row)
            self._bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k not in ("step", "minutes")})


def sync_gradients(params: list[torch.Tensor], world: int):
    """Average gradients over ranks with one flat all-reduce."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads]) / world
    dist.all_reduce(flat)
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def init_minutes(init: str) -> float:
    """The training minutes an `init` checkpoint's card reports (0 without one): a stage's card
    counts them in its total."""
    return float(hub.read_card(hub.resolve(init))["results"].get("train_minutes", 0.0)) if init else 0.0


def cosine_lr(base: float, progress: float, warmup: float = 0.02) -> float:
    """Linear warm-up over the first `warmup` of the run, then cosine decay to 0."""
    if progress < warmup:
        return base * (progress + 1e-3) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def linear_decay_lr(base: float, progress: float, start: float = 0.5) -> float:
    """Constant, then linear decay to 0 over the run's second part (GANimation's schedule)."""
    return base if progress < start else base * max(0.0, (1 - progress) / (1 - start))
