"""Text-image model: one wrapper over open_clip for both profiles.

Lite: the custom configs `lgfa-tiny-clip` (the default here) and `lgfa-small-clip` (a 4x image
tower, the same text tower; the shipped one) in configs/, registered with
`open_clip.add_model_config`: open_clip's ModifiedResNet image tower at 64 px (a 4-layer ViT
with 8 px patches stayed at chance in 5 minutes of training where the ResNet did not), its
bundled BPE tokenizer; trained here with `open_clip.loss.ClipLoss` on SynthFaces image/caption
pairs (`weights/clip-synthfaces2-64`, `python -m lgfa_lite.train.perception train --opts net clip`).
Full: `TextImageModel.pretrained("ViT-B-32", "openai")` builds the upstream model with
`open_clip.create_model_and_transforms` (downloads on the user's machine).

Images go in as tensors in [0, 1] at any size; the wrapper resizes and normalises them
differentiably with the profile's mean/std, so CLIP can guide a generator.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from lgfa_lite.hub import register_model

from .blocks import check_images, resize

LITE_MODEL = "lgfa-tiny-clip"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
MAX_PROMPT_CHARS = 2000


@contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


@lru_cache(maxsize=None)
def register_configs() -> None:
    open_clip.add_model_config(Path(__file__).parent / "configs")


@register_model("open-clip")
class TextImageModel(nn.Module):
    def __init__(self, model_name: str = LITE_MODEL, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
        super().__init__()
        register_configs()
        self.config = {"model_name": model_name, "mean": list(mean), "std": list(std)}
        with _quiet_root_logger():  # "no pretrained weights loaded": the caller loads them next
            self.model = open_clip.create_model(model_name, pretrained=None)
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.image_size = int(
            self.model.visual.image_size[0]
            if isinstance(self.model.visual.image_size, tuple)
            else self.model.visual.image_size
        )
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def pretrained(cls, model_name: str = "ViT-B-32", pretrained: str = "openai") -> "TextImageModel":
        """Full profile: an upstream open_clip model with its pretrained weights (downloads)."""
        register_configs()
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        out = cls(model_name, cfg.get("mean", OPENAI_MEAN), cfg.get("std", OPENAI_STD))
        out.model.load_state_dict(model.state_dict())
        return out.eval()

    def tokenize(self, texts: str | list[str]) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"prompts must be strings, got {type(t).__name__}")
        # open_clip truncates to the context length; cap the raw text so a huge paste stays cheap.
        return self.tokenizer([t[:MAX_PROMPT_CHARS] for t in texts])

    def encode_text(self, texts, normalize: bool = True) -> torch.Tensor:
        """Prompts (str or list) or token ids -> (B, embed_dim)."""
        ids = texts if isinstance(texts, torch.Tensor) else self.tokenize(texts)
        z = self.model.encode_text(ids.to(self.mean.device))
        return F.normalize(z, dim=-1) if normalize else z

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        x = resize(check_images(images), self.image_size)
        return (x - self.mean) / self.std

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, embed_dim); differentiable."""
        z = self.model.encode_image(self.preprocess(images))
        return F.normalize(z, dim=-1) if normalize else z

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.model.logit_scale.exp()

    def forward(self, images: torch.Tensor, texts) -> torch.Tensor:
        """Cosine similarities (B_images, B_texts)."""
        return self.encode_image(images) @ self.encode_text(texts).T
