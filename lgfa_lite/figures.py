"""Figures the notebooks share: a row of images with optional titles, saved and shown."""

from __future__ import annotations

from pathlib import Path


def show_row(images, titles=None, path: str | Path | None = None, scale: float = 1.5):
    """Images (N, 3, H, W) in [0, 1] or uint8 (N, H, W, 3) side by side; saved to `path` if given."""
    import matplotlib.pyplot as plt

    from lgfa_lite.video import to_uint8_frames

    frames = to_uint8_frames(images)
    fig, axes = plt.subplots(1, len(frames), figsize=(scale * len(frames), scale + 0.3), squeeze=False)
    for i, (ax, img) in enumerate(zip(axes[0], frames)):
        ax.imshow(img)
        ax.axis("off")
        if titles:
            ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=90)
    plt.show()
    return fig
