"""SynthFaces: a procedural 3D morphable face world with exact ground truth.

Parameters (`FaceParams`) -> `render` -> image, landmarks (iBUG 68) with visibility, mask.
Motion programs (`MOTIONS`, `motion_clip`) make captioned videos; datasets split identities.
"""

from .captions import caption_variant, caption_words, words
from .dataset import (
    SPLITS,
    SynthFaceClips,
    SynthFaceImages,
    default_cache_dir,
    identities,
    images_of,
    load_faces,
    split_of,
    standard_faces,
)
from .draw import draw_landmarks
from .motions import (
    LGFA_WORDS,
    MOTIONS,
    Motion,
    caption,
    clip_caption,
    expression_name,
    expression_sentence,
    motion_clip,
    template_caption,
    visible_aus,
)
from .params import (
    APPEARANCE_NAMES,
    AU_DESCRIPTIONS,
    AU_INDEX,
    AU_NAMES,
    EXPRESSIONS,
    N_AUS,
    POSE_LIMITS,
    SHAPE_NAMES,
    FaceParams,
    au_vector,
)
from .render import RESOLUTIONS, Renderer, RenderOutput, render
from .world import DEFAULT_WORLD, WORLDS, World, align_crop, get_world, image_crop
