"""Tab "About": what each method is, the lite and full profiles, what the lite models can and cannot
do, and the benchmark numbers as measured (read from bench/results.json when the tab is built)."""

from __future__ import annotations

import json
from pathlib import Path

TITLE = "About"
ORDER = 100
ROOT = Path(__file__).resolve().parents[1]

METHODS = [
    (
        "LGFA",
        "Language-Guided Face Animation by Recurrent StyleGAN-based Generator (Hang et al., IEEE TMM 2023)",
        "https://github.com/researchmm/language-guided-animation",
        "A still face and a sentence become a video: the face is inverted into StyleGAN2's W+ space and a "
        "recurrent generator, started from the sentence's CLIP codes, walks the latent over time.",
    ),
    (
        "GDPW",
        "Geometry Driven Progressive Warping for One-Shot Face Animation (BMVC 2022)",
        "https://arxiv.org/abs/2210.02391",
        "A 3D face model fitted to source and driving faces guides a coarse-to-fine warp of the source's own "
        "pixels: reenactment from a driving video, or edits of shape, expression, jaw, pose and camera. "
        "It keeps a real photo's look.",
    ),
    (
        "GANimation",
        "GANimation: Anatomically-aware Facial Animation from a Single Image (Pumarola et al., ECCV 2018)",
        "https://arxiv.org/abs/1807.09251",
        "A generator paints a colour image and an attention mask to move a face towards target action-unit "
        "intensities.",
    ),
    (
        "Landmark projection",
        "StyleGAN2 facial landmark projection (Uzolas, after StyleGAN2-ADA's projector)",
        "https://github.com/lukasuz/stylegan2-landmark-projection",
        "Optimises a StyleGAN2 latent so the image has the look of one face and the landmarks of another; "
        "a landmark sequence becomes an animation.",
    ),
    (
        "AU-CLIP",
        "AU-CLIP: a facial expression editing method based on action units (Li)",
        "https://github.com/Kevinfringe/AU-CLIP",
        "A latent mapper turns an action-unit increment into a W+ offset, trained with CLIP, identity and AU losses.",
    ),
]

PROFILES = """**Lite and full profiles.** This Space runs the **lite profile**: every model is small (64 px),
trained here on a CPU on *SynthFaces*, a procedural 3D face world with exact ground truth, and
everything runs offline. The **full profile** swaps in the original, pretrained parts (StyleGAN2 FFHQ
weights, a pretrained open_clip, face_alignment's FAN, LPIPS, an ArcFace-style identity net) through
the same loaders, on a machine that has them.

**What the lite models can do.** Head motions, eye closing and an opening mouth are drawn by the
lite StyleGAN2; GDPW warps real photos at 128 px and keeps their look; landmark projection reaches
its landmark targets; GANimation (trained on SynthFaces v2) widens and closes eyes and opens,
closes and puckers mouths, softly. **What they cannot do yet.** The lite StyleGAN2 does not draw brows, lid
tightening or smiles, so LGFA, AU-CLIP and projection cannot show them; the StyleGAN2 methods
redraw a real photo as its nearest synthetic face (use GDPW to keep the photo)."""

# The expression-editing comparison: each method's keys on its own benchmark group.
EDITING = [
    ("GANimation", "ganimation", ["au_mae", "baseline_no_edit_au_mae", "psnr_vs_gt", "id_sim"]),
    ("AU-CLIP", "auclip", ["au_mae", "baseline_no_edit_au_mae", "psnr_vs_gt", "id_sim"]),
    ("GDPW editing", "gdpw", ["edit_param_error_au", "edit_param_error_au_no_edit", "edit_param_error_pose_deg"]),
    ("Landmark projection", "projection", ["landmark_nme", "baseline_look_only_nme", "look_id_sim"]),
]


def load_results(path: Path | None = None) -> dict:
    try:
        return json.loads((path or ROOT / "bench" / "results.json").read_text())
    except (OSError, ValueError):
        return {}


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) else "—"


def editing_table(results: dict) -> str:
    """Markdown: the expression-editing methods side by side, with what each was measured on.
    GANimation and AU-CLIP score the same held-out edits (`held_out_edits`), each in the SynthFaces
    world its checkpoint learnt (`synthfaces_world`, v1 when not recorded); GDPW and projection
    measure their own targets."""
    lines = ["| method | measured | values |", "|---|---|---|"]
    for name, group, keys in EDITING:
        found = results.get(group, {})
        if not found or "checkpoint_missing" in found:
            lines.append(f"| {name} | `{group}` | not shipped yet |")
            continue
        values = ", ".join(f"{k} {_fmt(found.get(k))}" for k in keys if k in found)
        shared = group in ("ganimation", "auclip")  # the shared edit set, in the world the checkpoint learnt
        world = f" (SynthFaces v{int(found.get('synthfaces_world', 1))} edits)" if shared else ""
        lines.append(f"| {name} | `{group}`{world} | {values or '—'} |")
    return "\n".join(lines)


def about_markdown(results: dict | None = None) -> str:
    results = load_results() if results is None else results
    parts = ["## The five methods"]
    for name, paper, url, what in METHODS:
        parts.append(f"**{name}** — [{paper}]({url}). {what}")
    parts += [PROFILES, "## Expression editing, as measured", editing_table(results)]
    dates = results.get("env", {}).get("dates", {})
    if dates:
        parts.append("Benchmark runs: " + ", ".join(f"`{g}` {d[:10]}" for g, d in sorted(dates.items())) + ".")
    return "\n\n".join(parts)


def build() -> None:
    import gradio as gr

    gr.Markdown(about_markdown())
    results_md = ROOT / "bench" / "RESULTS.md"
    if results_md.is_file():
        with gr.Accordion("Every benchmark number (bench/RESULTS.md)", open=False):
            gr.Markdown(results_md.read_text())
