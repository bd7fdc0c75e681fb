#!/usr/bin/env bash
# The full-size study on one machine, end to end through the stage modules, without DVC:
# 75,000 synthetic images drawn (15,000 per class, 250 px), decoded to 224 px, the six models
# trained for EPOCHS epoch(s) each under one training seed (SEED), then flops, featuremaps, evaluate,
# export (on TensorFlow, whose converter it needs: a machine without TensorFlow stops there),
# score_exports and summarize: dvc.yaml's own commands, expanded for this run's params by tools/stage_commands.py.
# (The DAG's prune, trim and the other seeds are left out: training and inference are what a GPU
# changes.) DRY_RUN=1 prints the commands and runs nothing.
# Prints the seconds of every stage. Needs only Python with numpy, pillow, pyyaml, tqdm, pandas,
# matplotlib and Keras (+ JAX or torch); no TensorFlow, DVC or network.
#
#   bash bench/gpu_study.sh                            # GPU box: full size, JAX, bf16
#   PER_CLASS=20 SIZE=32 EPOCHS=1 BACKEND=jax MIXED=false bash bench/gpu_study.sh   # CPU smoke run
#   (tests/test_rehearsal.py runs it with DRY_RUN=1: its commands are dvc.yaml's; and for real at its
#   smallest, on the CPU, from a params file (PARAMS, default params.yaml) whose criteria name a model left out)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# BACKEND trains; EVAL_BACKEND runs flops/featuremaps/evaluate (Keras-on-torch builds models
# several times faster than JAX, whose eager initialisers compile one op at a time).
PER_CLASS=${PER_CLASS:-15000} SIZE=${SIZE:-224} EPOCHS=${EPOCHS:-1} BACKEND=${BACKEND:-jax} EVAL_BACKEND=${EVAL_BACKEND:-torch}
BATCH=${BATCH:-128} MIXED=${MIXED:-true} MODELS=${MODELS:-cnn,cnn_light,googlenet,googlenet_light,vgg16,vgg16_light}
SEED=${SEED:-42} PARAMS=$(realpath "${PARAMS:-$ROOT/params.yaml}")  # the params file this run's params.yaml starts from
WORK=${WORK:-$(mktemp -d /tmp/ricecnn-study.XXXX)}
PY=${PYTHON:-python3}
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=$EVAL_BACKEND PYTHONUNBUFFERED=1
mkdir -p "$WORK" && cd "$WORK"

"$PY" - "$PARAMS" "$ROOT/tools" <<PY
import sys, yaml
sys.path.insert(0, sys.argv[2])
from model_subset import model_lists
p = yaml.safe_load(open(sys.argv[1]))
p["data"].update(source="synthetic", img_size=$SIZE)
p["data"]["synthetic"]["per_class"] = $PER_CLASS
p["train"].update(backend="env", batch_size=$BATCH, mixed_precision="$MIXED" == "true")
p["models"] = {m: {**p["models"][m], "epochs": $EPOCHS} for m in "$MODELS".split(",")}
p["replicates"] = [$SEED]
# prune, trim and criteria keep only the models whose stages run here (tools/model_subset.py's rule):
# none, the six models' training and evaluation only (evaluate looks for every model these lists name)
for section, names in model_lists(p, models=()).items():
    p[section]["models"] = names
val = round(min(1.0, p["split"]["val"]) * $PER_CLASS) * 5
p["featuremaps"]["samples"] = min(p["featuremaps"]["samples"], val)
p["evaluate"]["batch_size"] = $BATCH
yaml.safe_dump(p, open("params.yaml", "w"), sort_keys=False)
PY

declare -a REPORT
stage() {  # stage <label> <ricecnn args...>: run one stage, remember its wall seconds
  local label=$1; shift
  local t0=$(date +%s.%N)
  "$PY" -m ricecnn "$@" 2>&1 | tee -a stages.log | { grep -v -E '^\s*$|it/s\]|img/s\]|port.cc|absl::InitializeLog' || true; }
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "stage $label failed"; exit 1; }
  REPORT+=("$(printf '| %-24s | %8.1f |' "$label" "$(echo "$(date +%s.%N) - $t0" | bc)")")
}

echo "work dir: $WORK  (train on $BACKEND, the rest on $EVAL_BACKEND, ${PER_CLASS}/class, ${SIZE} px, ${EPOCHS} epoch(s), batch $BATCH, bf16 $MIXED)"
# dvc.yaml's own commands for this params.yaml (tools/stage_commands.py: no DVC here), in DAG order
while IFS=$'\t' read -r name cmd; do
  backend=$EVAL_BACKEND
  case $name in train@*|trim_scratch@*) backend=$BACKEND ;; export@*) backend=tensorflow ;; esac  # export: TF's converter
  if [ -n "${DRY_RUN:-}" ]; then printf '%s\t%s\n' "$name" "$cmd"; continue; fi
  eval "KERAS_BACKEND=$backend stage \"$name\" ${cmd#ricecnn }"
done < <("$PY" "$ROOT/tools/stage_commands.py" --dvc-yaml "$ROOT/dvc.yaml" --params params.yaml \
           --only fetch,split,pretrain,train,flops,featuremaps,evaluate,export,score_exports,summarize)
[ -n "${DRY_RUN:-}" ] && exit 0

echo; echo "| stage | seconds |"; echo "|---|---|"; printf '%s\n' "${REPORT[@]}"
"$PY" - <<'PY'
import json, glob, os
print("\n| model | fastest epoch s (the only one includes compiling) | train img/s | input path | val acc | aug acc |\n|---|---|---|---|---|---|")
ev = {}  # one evaluate@<line>-<seed> file per trained model's line, of the one seed run
for f in glob.glob("metrics/evaluate/*/*.json"):
    ev.update(json.load(open(f)))
from ricecnn.core.cli import TIMING
timing = {}  # the stages print their seconds (core.cli.print_timing's lines), never record them
for line in open("stages.log"):
    if line.startswith(TIMING):
        t = json.loads(line[len(TIMING):])
        if t["stage"].startswith("train@"):
            timing[t["model"]] = t
for f in sorted(glob.glob("metrics/train/*/*.json")):
    m = json.load(open(f)); n = os.path.basename(f)[:-5]; t = timing[n]
    print(f"| {n} | {min(t['epoch_seconds']):.1f} | {t['train_images'] / min(t['epoch_seconds']):,.0f} | {m['input_path']} | "
          f"{m['val_accuracy']:.4f} | {ev[n]['augmented_accuracy']:.4f} |")
PY
cat reports/study/summary.md | head -12
