#!/bin/sh
# One GPU session of default-model training: resume, train MINUTES on CUDA, save, and leave the export in
# $OUT as 15 MB parts (a device machine returns files of at most 16 MiB each).
#
# Run on the GPU machine from the repository root, with the art bundle (.gpu-train) and the diffusers wheel
# (.whl) carried; README "Training the default model on a GPU" has the steps before and after:
#   sh generation/training/gpu_session.sh MINUTES [OBJECTS]      (DEVICE=cpu for a dry run here)
# It resumes from models/default when that holds a second-generation model (copy a CPU run's export there
# in the working tree before the call), and otherwise starts the second generation from the first one's UNet
# and text encoder. The export is written to .gpu-train/next.
set -eu
minutes=${1:-8}
objects=${2:-}
out=${OUT:-var/gpu-out}
mkdir -p "$out"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
start_from=""
if python3 -c "import json, sys; state = json.load(open('models/default/training_state.json'));
sys.exit(0 if state.get('version', 1) >= 2 else 1)"; then
    rm -rf .gpu-train/next && cp -r models/default .gpu-train/next
else
    start_from="--init-from models/default"
fi
started=$(date +%s)
# shellcheck disable=SC2086  # $start_from is two words or none
PYTHONUNBUFFERED=1 python3 -m generation.training --device "${DEVICE:-cuda}" --out .gpu-train/next --work-dir .gpu-train \
    --max-minutes "$minutes" --checkpoint-minutes 2 --unet-batch-size 256 --unet-lr 6e-4 --vae-batch-size 64 \
    --data-workers 12 --log-every 50 $start_from ${objects:+--objects "$objects"} 2>&1 | tee "$out/train.log"
echo "GPU session: $(( $(date +%s) - started )) s of training and saving"
tar -C .gpu-train -cf - next | split -b 15m - "$out/next.tar.part-"
ls -l "$out"
