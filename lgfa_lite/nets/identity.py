"""Identity embedding: image -> unit vector; same person -> high cosine similarity.

Lite profile: a small ResNet trained here with an additive-margin (CosFace) softmax over
SynthFaces training identities. What counts as identity: face shape, skin tone and redness,
hair colour/length/volume/hairline, iris colour, lip colour (`IDENTITY_APPEARANCE`).
Expression, head/jaw pose, camera, lighting and background do not.
Full profile: a real face-recognition model (ArcFace, FaceNet) the user supplies, wrapped as
`IdentityEmbedding(module, input_size, mean, std)`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lgfa_lite.hub import register_model

from .blocks import ConvEncoder, check_images, resize


@register_model("identity-embedding")
class IdentityNet(nn.Module):
    def __init__(self, input_size: int = 64, channels=(32, 64, 128, 256), dim: int = 128):
        super().__init__()
        self.config = {"input_size": int(input_size), "channels": list(channels), "dim": int(dim)}
        self.input_size = int(input_size)
        self.encoder = ConvEncoder(tuple(channels))
        self.head = nn.Linear(channels[-1], dim)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's feature map (for perceptual distances)."""
        return self.encoder(resize(check_images(images), self.input_size), features=True)[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, dim) unit vectors; differentiable."""
        return F.normalize(self.head(self.encoder(resize(check_images(images), self.input_size))), dim=-1)

    def similarity(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of two image batches, (B,)."""
        return (self(a) * self(b)).sum(-1)


class IdentityEmbedding(nn.Module):
    """Full profile: wrap a user-supplied face-recognition module (e.g. an ArcFace iresnet or
    facenet-pytorch's InceptionResnetV1) to the same interface: [0, 1] images -> unit vectors."""

    def __init__(self, module: nn.Module, input_size: int = 112, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
        super().__init__()
        self.module, self.input_size = module, int(input_size)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (resize(check_images(images), self.input_size) - self.mean) / self.std
        return F.normalize(self.module(x).flatten(1), dim=-1)

    similarity = IdentityNet.similarity
