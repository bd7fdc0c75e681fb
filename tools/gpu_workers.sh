#!/usr/bin/env bash
# Start one DVC queue worker per GPU, each pinned to its GPU with CUDA_VISIBLE_DEVICES.
#
#   dvc exp run --queue -S ... ; dvc exp run --queue -S ...   # queue the experiments first
#   bash tools/gpu_workers.sh 0 1 2 3                           # then one worker per GPU
#
# DVC does not schedule GPUs, but a queue worker inherits the environment of the `dvc queue start`
# that spawned it, and `dvc queue start -j N` spawns only those of the workers numbered 1..N that
# are not running yet. So worker N+1 is started, pinned to the next GPU, once worker N answers:
# started earlier, `-j N+1` would spawn a second "worker N" on the wrong GPU. Workers leave on their
# own about 10 s after the queue is empty (queue the experiments before starting them).
set -euo pipefail
if [ $# -eq 0 ]; then
  echo "usage: $0 GPU [GPU ...]   (GPU ids as CUDA_VISIBLE_DEVICES takes them, e.g. 0 1)" >&2
  exit 2
fi
n=0
for gpu in "$@"; do
  n=$((n + 1))
  CUDA_VISIBLE_DEVICES=$gpu dvc queue start -j "$n"
  for _ in $(seq 120); do  # up to 60 s for the worker to answer
    up=$(dvc queue status | awk '/^Worker status:/ {print $3 + $5}')
    [ "${up:-0}" -ge "$n" ] && continue 2
    sleep 0.5
  done
  echo "$0: worker $n (GPU $gpu) did not come up within 60 s; see .dvc/tmp/exps/celery/" >&2
  exit 1
done
