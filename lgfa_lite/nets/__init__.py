"""Networks shared by the methods. Each is a registered hub model (lite checkpoints in
`weights/`, trained on SynthFaces by `lgfa_lite.train.perception`); where an upstream
library has the architecture (open_clip, face_alignment, lpips) its own classes are used so
full-profile weights drop in."""
