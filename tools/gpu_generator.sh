#!/usr/bin/env bash
# Train the lite StyleGAN2 generator on a GPU machine for a fixed number of minutes.
#
#   bash tools/gpu_generator.sh [MINUTES] [--opts KEY VAL ...]     (WORLD=v2 by default)
#
# Resumes from runs/stylegan2-$WORLD when that training state is there (carry it to the GPU
# machine); without it, a new stage starts from the shipped checkpoint (`init`, a fresh
# discriminator from step 0, the perceptual leg's weight 5.0, lr 1e-3: the CPU stages in
# docs/experiments/stylegan2.md). Either way the run takes the shipped checkpoint's channel
# widths. Trains on cuda with the lite recipe
# (renders on the CPU cores, steps on the GPU),
# writes the checkpoint to weights/stylegan2-synthfaces2-64 (v2) or weights/stylegan2-synthfaces-64
# (v1), whose model card records the hardware and minutes; with $OUT set (the device machine's
# return folder) it copies the checkpoint and the training state there too.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-8}"
shift || true
WORLD="${WORLD:-v2}"
NAME=$([ "$WORLD" = v1 ] && echo stylegan2-synthfaces-64 || echo stylegan2-synthfaces2-64)
PY="${PYTHON:-python3}"
"$PY" -c "import torch, lgfa_lite" 2>/dev/null || "$PY" -m pip install -q -r requirements.txt -e .
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no GPU here: use the CPU recipe'"
STAGE=()
if [ -f "weights/$NAME/config.json" ]; then  # the shipped generator's widths (a stage and its state keep them)
    read -r -a STAGE < <("$PY" -c "import json; c = json.load(open('weights/$NAME/config.json'))['config']['channels']; print(' '.join(f'channels.{r} {n}' for r, n in c.items()))")
fi
if [ ! -f "runs/stylegan2-$WORLD/state.json" ] && [ -f "weights/$NAME/config.json" ]; then
    echo "== no training state in runs/stylegan2-$WORLD: a new stage from weights/$NAME"
    STAGE+=(init "weights/$NAME" adv_after 0 perceptual_weight 5.0 lr 1e-3)
fi
"$PY" -m lgfa_lite.train.stylegan2 generator --minutes "$MINUTES" --steps 100000000 \
    --opts device cuda synthfaces "$WORLD" work_dir "runs/stylegan2-$WORLD" out_dir "weights/$NAME" "${STAGE[@]}" "$@"
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT/weights" "$OUT/runs"
    cp -r "weights/$NAME" "$OUT/weights/"
    cp -r "runs/stylegan2-$WORLD" "$OUT/runs/"
fi
