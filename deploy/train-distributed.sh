#!/usr/bin/env bash
# Train the model on several GPUs (or CPU processes) of one machine with torchrun.
#   deploy/train-distributed.sh 4 runs/cangtou-v2          # 4 processes, nccl on GPUs
# --tokens-per-batch is per process; only rank 0 writes the model directory.
set -euo pipefail
NPROC="${1:?usage: train-distributed.sh NPROC OUT [extra acrostic train options]}"
OUT="${2:?usage: train-distributed.sh NPROC OUT [extra acrostic train options]}"
shift 2
exec torchrun --standalone --nproc_per_node="$NPROC" -m bot.cli train \
  --corpus "${CORPUS:-data/corpus}" --out "$OUT" --embed-dim 256 --hidden-dim 512 \
  --cutoffs 2000,5000 --max-minutes "${MINUTES:-140}" --eval-minutes 7 --seed 0 "$@"
