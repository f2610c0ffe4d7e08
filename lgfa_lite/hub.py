"""Checkpoint store: save, load and publish models as Hub-style folders.

A checkpoint folder (``weights/<name>/`` or a Hub model repo) holds exactly
``config.json`` ({"model_type", "config", "lgfa_lite_version"}), ``model.safetensors``
and a ``README.md`` model card. Models are plain ``nn.Module`` s whose constructor
kwargs are their config; they expose it as ``self.config`` and are registered with
``@register_model("name")`` so that ``load`` can rebuild the right class.

Weights are read from safetensors only: a pickle (.bin/.pt/.pth/.ckpt) can run code
when it is loaded, so this module never unpickles anything.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import pkgutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from lgfa_lite import __version__

log = logging.getLogger(__name__)

FILES = ("config.json", "model.safetensors", "README.md")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_REGISTRY: dict[str, type] = {}


class CheckpointError(Exception):
    """Any problem finding, reading or matching a checkpoint, with a message that says what to do."""


def _main_copy(main_cls, cls) -> bool:
    """Whether `main_cls` is `cls` defined again by running its module as a script: `python -m
    pkg.module` runs the module as __main__, and importing the package imports it once more."""
    return main_cls.__module__ == "__main__" and main_cls.__qualname__ == getattr(cls, "__qualname__", None)


def register_model(name: str, cls: type | None = None):
    """Register ``cls`` under ``name``; usable as ``@register_model("name")`` or directly.
    The package's copy of a class takes its name over from the __main__ copy (`_main_copy`)."""

    def deco(c: type) -> type:
        old = _REGISTRY.get(name, c)
        if old is not c and not _main_copy(old, c):
            raise ValueError(f"model type {name!r} is already registered to {_REGISTRY[name].__qualname__}")
        _REGISTRY[name] = c
        c.model_type = name
        return c

    return deco(cls) if cls is not None else deco


def model_class(model_type: str) -> type:
    if model_type not in _REGISTRY:
        # Models register on import; import the model packages so load() works without the caller
        # having imported the right module first.
        for pkg_name in ("lgfa_lite.nets", "lgfa_lite.methods"):
            try:
                pkg = importlib.import_module(pkg_name)
            except ModuleNotFoundError:
                continue
            for mod in pkgutil.iter_modules(pkg.__path__, pkg_name + "."):
                importlib.import_module(mod.name)
    if model_type not in _REGISTRY:
        raise CheckpointError(f"unknown model_type {model_type!r}; registered: {sorted(_REGISTRY)}")
    return _REGISTRY[model_type]


def default_weights_dir() -> Path:
    return Path(os.environ.get("LGFA_WEIGHTS_DIR") or Path(__file__).resolve().parents[1] / "weights")


# ----------------------------------------------------------------------------- save


def save(model: torch.nn.Module, folder, *, card: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write ``config.json``, ``model.safetensors`` and ``README.md`` into ``folder``.

    ``dtype`` (e.g. ``torch.float16``) sets the storage dtype of floating tensors; ``load``
    casts them back. ``card``: optional {"name" (the repo name; default the folder's),
    "metrics": {name: value}, "description", "training", "tags", "task", "dataset"}.
    """
    cls = type(model)
    model_type = getattr(cls, "model_type", None)
    registered = _REGISTRY.get(model_type)
    if registered is not cls and not _main_copy(cls, registered):  # a trainer run with python -m saves too
        raise CheckpointError(f"{type(model).__qualname__} is not registered: decorate it with @register_model(name)")
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise CheckpointError(f"{type(model).__qualname__} needs a `self.config` dict of its constructor kwargs")
    try:
        config_text = json.dumps(
            {"model_type": model_type, "config": config, "lgfa_lite_version": __version__}, indent=2
        )
    except TypeError as e:
        raise CheckpointError(f"{type(model).__qualname__}.config is not JSON-serialisable: {e}") from e

    tensors, seen = {}, set()
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu")
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        # safetensors refuses tensors that share memory (tied weights, views) and
        # non-contiguous ones: give each entry its own contiguous storage.
        ptr = v.untyped_storage().data_ptr()
        v = v.clone(memory_format=torch.contiguous_format) if ptr in seen else v.contiguous()
        seen.add(ptr)
        tensors[k] = v

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config_text + "\n")
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    card = card or {}
    (folder / "README.md").write_text(_model_card(card.get("name") or folder.name, model_type, config, card))
    return folder


def _model_card(name: str, model_type: str, config: dict, card: dict) -> str:
    from huggingface_hub import EvalResult, ModelCardData

    metrics = card.get("metrics") or {}
    task, dataset = card.get("task", "other"), card.get("dataset", "synthfaces")
    # model-index is the Hub's validated place for measured numbers (shown on the repo page).
    data = ModelCardData(
        library_name="lgfa_lite",
        license="mit",
        datasets=["synthfaces"],
        tags=["lgfa_lite", "pytorch", "safetensors", model_type, *card.get("tags", [])],
        metrics=list(metrics) or None,
        model_name=name,
        eval_results=[
            EvalResult(task_type=task, dataset_type=dataset, dataset_name=dataset, metric_type=k, metric_value=float(v))
            for k, v in metrics.items()
        ]
        or None,
    )
    rows = "\n".join(f"| {k} | {v:.6g} |" for k, v in metrics.items()) or "| (none measured) | |"
    return (
        f"---\n{data.to_yaml()}\n---\n\n# {name}\n\n"
        f"{card.get('description', f'A `{model_type}` checkpoint for lgfa-lite.')}\n\n"
        f"## How to load\n\n```python\nfrom lgfa_lite import hub\n\nmodel = hub.load({name!r})"
        f"  # or a Hub repo id / local folder\n```\n\n"
        f"Weights are safetensors only (`model.safetensors`); `config.json` holds the constructor "
        f"arguments of `{model_type}`:\n\n```json\n{json.dumps(config, indent=2)}\n```\n\n"
        f"## Training\n\n{card.get('training', 'Not documented.')}\n\n"
        f"## Metrics ({dataset})\n\n| metric | value |\n|---|---|\n{rows}\n"
    )


def read_card(folder) -> dict:
    """YAML front matter of ``folder/README.md``, plus ``"results"``: {metric: value} from model-index."""
    import yaml

    path = Path(folder) / "README.md"
    text = path.read_text() if path.is_file() else ""
    if not text.startswith("---"):
        raise CheckpointError(f"{path} has no YAML front matter")
    try:
        meta = yaml.safe_load(text.split("---", 2)[1]) or {}
    except (yaml.YAMLError, IndexError) as e:
        raise CheckpointError(f"{path}: bad YAML front matter: {e}") from e
    meta["results"] = {
        m["type"]: m["value"]
        for entry in meta.get("model-index") or []
        for r in entry.get("results", [])
        for m in r.get("metrics", [])
    }
    return meta


# ----------------------------------------------------------------------------- load


def _pickle_refusal(folder: Path) -> CheckpointError:
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    hint = (
        (
            f"; found pickle files {pickles}: they are refused because unpickling can run arbitrary code. "
            "Convert them once in a trusted environment: `from safetensors.torch import save_file; "
            "save_file(torch.load(path, weights_only=True), 'model.safetensors')`"
        )
        if pickles
        else ""
    )
    return CheckpointError(f"no model.safetensors in {folder}{hint}")


def load_state(folder) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read ``config.json`` (the whole dict) and the safetensors state dict of a checkpoint folder."""
    folder = Path(folder)
    if not (folder / "model.safetensors").is_file():
        raise _pickle_refusal(folder) if folder.is_dir() else CheckpointError(f"{folder} is not a folder")
    try:
        config = json.loads((folder / "config.json").read_text())
        if not isinstance(config.get("model_type"), str) or not isinstance(config.get("config"), dict):
            raise KeyError("model_type/config")
    except FileNotFoundError as e:
        raise CheckpointError(f"{folder} has no config.json") from e
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, AttributeError) as e:
        raise CheckpointError(
            f"{folder / 'config.json'} is not a valid lgfa_lite config "
            f"(need JSON with 'model_type' and 'config'): {e!r}"
        ) from e
    try:
        state = load_file(str(folder / "model.safetensors"))
    except Exception as e:  # safetensors raises its own SafetensorError / OSError on bad files
        raise CheckpointError(f"{folder / 'model.safetensors'} is corrupt or not a safetensors file: {e}") from e
    return config, state


def resolve(name_or_repo: str, revision: str | None = None, *, weights_dir=None) -> Path:
    """Local folder for a checkpoint: ``<weights_dir>/<name>``, an existing folder path, else a Hub snapshot."""
    local = Path(weights_dir or default_weights_dir()) / name_or_repo
    if local.is_dir():
        return local
    if Path(name_or_repo).is_dir():
        return Path(name_or_repo)
    hint = (
        f"fetch it with `hf download {name_or_repo} --local-dir {local}` (huggingface_hub's CLI), "
        "or go online (unset HF_HUB_OFFLINE; set HF_TOKEN for private or gated repos)"
    )
    if name_or_repo.count("/") != 1:
        raise CheckpointError(
            f"checkpoint {name_or_repo!r} not found: no folder {local} and it is not a Hub "
            f"repo id (owner/name); train it or {hint}"
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name_or_repo, revision=revision, allow_patterns=list(FILES)))
    except Exception as e:  # offline, not found, gated, network: all mean "you don't have it"
        raise CheckpointError(
            f"could not get Hub repo {name_or_repo!r} (revision {revision or 'main'}): "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; {hint}"
        ) from e


@functools.lru_cache(maxsize=None)
def load_shared(name: str) -> torch.nn.Module:
    """`load(name)` once per process, in eval mode, for callers that only run the model (the
    Space's tabs, the face check): one copy in memory however many parts use it."""
    return load(name).eval()


def load(
    name_or_repo: str,
    revision: str | None = None,
    *,
    weights_dir=None,
    device="cpu",
    dtype: torch.dtype = torch.float32,
    strict: bool = True,
) -> torch.nn.Module:
    """Build the registered model from a checkpoint and load its weights (strict key/shape check)."""
    folder = resolve(str(name_or_repo), revision, weights_dir=weights_dir)
    config, state = load_state(folder)
    try:
        model = model_class(config["model_type"])(**config["config"])
    except TypeError as e:
        raise CheckpointError(f"{folder}: config does not fit {config['model_type']!r}: {e}") from e
    model.to(device=device, dtype=dtype)  # casts floating params only; fp16 storage is upcast on copy

    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"{label} ({len(keys)}): {keys[:10]}{' ...' if len(keys) > 10 else ''}"
        for label, keys in (
            ("shape mismatch", mismatched),
            *((("missing keys", missing), ("unexpected keys", unexpected)) if strict else ()),
        )
        if keys
    ]
    if problems:
        raise CheckpointError(f"{folder} does not match {config['model_type']!r}: " + "; ".join(problems))
    if missing or unexpected:
        log.warning("%s: missing keys %s, unexpected keys %s (strict=False)", folder, missing, unexpected)
    model.load_state_dict(state, strict=strict)
    return model.eval()


# ----------------------------------------------------------------------------- publish


def validate(folder) -> list[str]:
    """Check a folder is a complete, readable checkpoint; return the files to upload."""
    folder = Path(folder)
    absent = [f for f in FILES if not (folder / f).is_file()]
    if absent:
        raise CheckpointError(f"{folder} is missing {absent}")
    try:
        json.loads((folder / "config.json").read_text())["model_type"]
        with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
            if not list(f.keys()):
                raise CheckpointError(f"{folder / 'model.safetensors'} holds no tensors")
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{folder} is not a valid checkpoint: {type(e).__name__}: {e}") from e
    read_card(folder)
    return list(FILES)


def publish(
    folder, repo_id: str, *, dry_run: bool = False, token: str | None = None, private: bool = False
) -> list[str]:
    """Upload a checkpoint folder to a Hub model repo (created if needed); return the uploaded files."""
    files = validate(folder)
    if dry_run:
        return files
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    # allow_patterns: only the three checkpoint files, never stray pickles or caches in the folder.
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        repo_type="model",
        allow_patterns=files,
        commit_message=f"Upload {Path(folder).name} (lgfa_lite {__version__})",
    )
    log.info("published %s to %s", folder, getattr(info, "commit_url", repo_id))
    return files
