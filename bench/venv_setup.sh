#!/usr/bin/env bash
# make setup's byte-compilation, measured side by side: the pinned requirements installed into two
# fresh venvs, alternating, one as pip does it alone (it compiles every installed .py file on one
# core) and one as the Makefile does (pip --no-compile, then compileall on every core). Each venv is
# then timed importing TensorFlow, Keras, pandas, SciPy and Matplotlib, so a venv whose files were
# left uncompiled shows (with PYTHONDONTWRITEBYTECODE set, as some environments do, nothing is
# compiled at import either).
#
#     bash bench/venv_setup.sh            # 2 rounds, venvs under a temporary folder
#     bash bench/venv_setup.sh 3
#     bash bench/venv_setup.sh | tee bench/venv-setup.md   # the committed record (docs/development.md)
#
# Installs come from pip's cache when it holds the wheels (as a second `make setup` does). Prints
# each round's seconds and the ratio of the two setups' medians: below 1, the Makefile's is faster.
set -euo pipefail
shopt -s inherit_errexit  # a failed install inside $(...) stops the bench
ROUNDS=${1:-2}
PYTHON=${PYTHON:-python3.11}
REQS=$(cd "$(dirname "$0")/.." && pwd)/requirements.txt
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

setup() {  # setup <venv> <pip|parallel>: prints the seconds of the install and byte-compilation
  local v=$1 how=$2 start end
  rm -rf "$v"; "$PYTHON" -m venv "$v"; "$v/bin/python" -m pip install --quiet --upgrade pip 2>/dev/null
  start=$(date +%s.%N)
  if [ "$how" = pip ]; then
    "$v/bin/python" -m pip install --quiet -r "$REQS" 2>/dev/null || { echo "bench: pip install failed in $v" >&2; exit 1; }
  else
    "$v/bin/python" -m pip install --quiet --no-compile -r "$REQS" 2>/dev/null \
      || { echo "bench: pip install failed in $v" >&2; exit 1; }
    "$v/bin/python" -m compileall -q -j 0 -x '/tests?/' "$v/lib" >/dev/null 2>&1 || true  # as make setup does
  fi
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

imports() {
  local start end
  start=$(date +%s.%N)
  "$1/bin/python" -c "import tensorflow, keras, pandas, scipy.stats, matplotlib.pyplot" 2>/dev/null \
    || { echo "bench/venv_setup.sh: the imports failed in $1" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

declare -a PIP PAR
printf '| round | setup | install + compile, s | import, s |\n|---:|---|---:|---:|\n'
for r in $(seq "$ROUNDS"); do
  for how in pip parallel; do
    s=$(setup "$TMP/$how" "$how")
    i=$(imports "$TMP/$how")
    printf '| %d | %s | %.1f | %.2f |\n' "$r" "$how" "$s" "$i"
    if [ "$how" = pip ]; then PIP+=("$s"); else PAR+=("$s"); fi
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
printf '\nparallel / pip, median seconds: %.2f\n' "$(echo "$(median "${PAR[@]}") / $(median "${PIP[@]}")" | bc -l)"
