"""Networks shared by the methods. Each is a registered hub model (lite checkpoints in
`weights/`, trained on SynthFaces by `lgfa_lite.train.perception`); where an upstream
library has the architecture (open_clip, face_alignment, lpips) its own classes are used so
full-profile weights drop in."""


def lite_weights(name: str, world: str) -> str:
    """A lite net's checkpoint for a SynthFaces world: "au-synthfaces-64" on v1 is itself; its v2
    twin (retrained on SynthFaces v2) is "au-synthfaces2-64"."""
    return name if world == "v1" else name.replace("-synthfaces-", f"-synthfaces{world[1:]}-")
