"""The words of SynthFaces captions: `caption_variant` (the varied captions the lite CLIP trains
on, which also name the LGFA motion a still face ends in) and `caption_words` (every word those
captions use: what the lite text model knows)."""

from __future__ import annotations

import random
import re
from functools import lru_cache

from .motions import LGFA_WORDS, MOTIONS, expression_sentence
from .params import EXPRESSIONS

_SYNONYMS: dict[str, list[str]] = {}
for _word, _expr in LGFA_WORDS.items():
    if _expr and _expr != _word:
        _SYNONYMS.setdefault(_expr, []).append(_word)


# The still-image state each LGFA motion ends in, so "The person turns left." (an LGFA prompt)
# is a caption of a face turned left: CLIP guides LGFA's last frame with these sentences.
# A wink, a nod and a head shake end where they began; a still face can only show their apex, so
# that is what they caption: a winking face, a face looking down, one turned to the left (where
# a shake first goes). Unseen, "winks", "nods" and "shakes" were random codes to the lite text
# model, and their sentences fell next to unrelated ones ("nods" ~ "looks angry", cosine 0.97).
_MOTION_OF_EXPRESSION = {m.gerund: m for m in MOTIONS.values() if m.aus and m.envelope in ("hold", "pulse")}
_MOTIONS_OF_DETAIL = {
    "turned to the left": [MOTIONS["turn left"], MOTIONS["shake head"]],
    "turned to the right": [MOTIONS["turn right"]],
    "looking up": [MOTIONS["look up"]],
    "looking down": [MOTIONS["look down"], MOTIONS["nod"]],
}
TILT_DEGREES = 10.0  # a face rolled further (counter-clockwise, as the tilt motion) is "tilting the head"


def caption_variant(caption: str, rng: random.Random, roll: float = 0.0) -> str:
    """Vary a SynthFaces caption: drop details, say the expression with an LGFA word, or say
    the motion that ends in this face, or peaks in it ("The person smiles.", "The person turns
    left.", "The person nods.", and "The person tilts the head." for a face rolled past
    TILT_DEGREES: captions do not say roll)."""
    first, _, details = caption.partition(". ")
    expr = first[len("The person is ") :] if first.startswith("The person is ") else "neutral"
    motions = [_MOTION_OF_EXPRESSION[expr]] if expr in _MOTION_OF_EXPRESSION else []
    motions += [m for d, ms in _MOTIONS_OF_DETAIL.items() if d in details.lower() for m in ms]
    if roll > TILT_DEGREES:
        motions.append(MOTIONS["tilt"])
    if motions and rng.random() < 0.3:
        return f"The person {rng.choice(motions).verb}."
    if expr in _SYNONYMS and rng.random() < 0.3:
        first = f"The person is {rng.choice(_SYNONYMS[expr])}"
    elif expr == "neutral" and rng.random() < 0.3:
        first = f"The person is {rng.choice(_SYNONYMS['neutral'])}"
    else:
        first = first.rstrip(".")
    return first + "." if rng.random() < 0.4 or not details else f"{first}. {details}"


def words(text: str) -> list[str]:
    """The words of a text as `caption_words` counts them (lower-case letter runs)."""
    return re.findall(r"[a-z]+", text.lower())


@lru_cache(maxsize=None)
def caption_words() -> frozenset[str]:
    """Every word `caption_variant` can put in a training caption: what the lite text model knows."""
    texts = [expression_sentence(e) for e in [*EXPRESSIONS, "neutral", "making a face"]]
    texts += [f"The person is {w}." for words in _SYNONYMS.values() for w in words]
    texts += [
        f"The person {m.verb}."
        for m in [
            *_MOTION_OF_EXPRESSION.values(),
            MOTIONS["tilt"],
            *(m for ms in _MOTIONS_OF_DETAIL.values() for m in ms),
        ]
    ]
    texts += [*_MOTIONS_OF_DETAIL, "dark red blond brown hair"]
    return frozenset(words(" ".join(texts)))
