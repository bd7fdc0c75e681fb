"""Batch-1 latency of the exported models, with its conditions and its spread between rounds: what
the deployment table, findings and figure of `summarize` read (bench/latency.json, committed).

It times the first replicate's exported files (exports/<r>/<line>/: LiteRT float32 and int8, ONNX) and its
Keras models two ways: `predict_on_batch` (what a Keras user calls) and one compiled call
(`tf.function`, with XLA or without, whichever is faster for that model here: the model's own cost,
with Keras' per-call bookkeeping left out; `keras_compiled_with` says which). Beside them, a near-empty model (global average pooling and one dense layer) in every runtime:
its time is the binding's overhead, which every figure of that runtime contains.

Every model and runtime is timed in --rounds rounds, each in a new shuffled order
(``ricecnn.deploy.latency.interleaved``); a figure is the median of its round medians, with the
fastest and slowest round beside it, flagged when they lie more than 25 % of the figure apart; a
light/full ratio is taken within each round. --runs 2 runs the whole bench twice back to back and
says, per family and runtime, whether the two runs' ratios lie within 15 % of each other.

The conditions go into the JSON with the figures: the CPU's model and flags (AVX2, AVX-512, AMX),
the runtimes' versions, the threads, the load average before and after each run. Latency is kept
out of `dvc repro` because it differs on every run and every machine (docs/deployment.md).

    .venv/bin/python bench/latency.py                # after `make repro`: writes bench/latency.json
    .venv/bin/python bench/latency.py --runs 1 --rounds 3 --out /tmp/latency.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

os.environ["KERAS_BACKEND"] = "tensorflow"  # the converters' backend; a .keras file is the same on every backend
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
VERSIONS = ("tensorflow", "tensorflow-cpu", "keras", "ai-edge-litert", "onnxruntime", "numpy")
AGREE = 0.15  # two runs' ratios agree when they lie within 15 % of each other


def conditions(threads: int) -> dict:
    """What the figures depend on besides the models: the machine and the software."""
    cpu, flags = platform.processor() or platform.machine(), set()
    with open("/proc/cpuinfo") if Path("/proc/cpuinfo").exists() else open(os.devnull) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    return {"cpu": cpu, "cpu_flags": {flag: flag in flags for flag in FLAGS}, "cpus": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "threads": threads, "python": platform.python_version(), "system": platform.platform(),
            "versions": {name: _version(name) for name in VERSIONS if _version(name)}}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:  # e.g. TensorFlow installed as tensorflow-cpu
        return None


def runners(exports: Path, models_dir: Path, lines: dict[str, str], split_dir: Path, threads: int, scratch: Path):
    """{(model, runtime, precision): a batch-1 call} for every model's files and Keras models (``lines``: each
    model's line, the folder that holds them in ``exports`` and ``models_dir``), and the near-empty model's in
    every runtime (model name "empty")."""
    import keras
    import numpy as np
    import tensorflow as tf

    from ricecnn.data.arrays import load_classes, load_split
    from ricecnn.deploy.convert import ConversionError, convert
    from ricecnn.deploy.formats import FORMATS
    from ricecnn.deploy.runtimes import keras_runner, load

    classes = load_classes(split_dir)
    test, _ = load_split(split_dir, "test")
    train, _ = load_split(split_dir, "train")
    calls = {}

    compiled_with = {}

    def keras_calls(name, model):
        """predict_on_batch, and the model as one compiled call: a TensorFlow graph with XLA or without
        (oneDNN's kernels), whichever is faster here. On this CPU XLA speeds up a small model's call
        and slows a large one's convolutions (vgg16: 6x), so neither alone is "the compiled model"."""
        from ricecnn.deploy.latency import block_median

        calls[(name, "keras", "float32")] = keras_runner(model).predict
        x = np.asarray(test[:1], np.float32)
        options = {}
        for how, jit in (("graph", False), ("xla", True)):
            graph = tf.function(lambda x: model(x, training=False), jit_compile=jit)
            try:
                graph(tf.constant(x))
            except Exception:  # noqa: BLE001  (XLA lacks an op this model has: the graph without it)
                continue
            call = lambda v, g=graph: g(tf.constant(v)).numpy()  # noqa: E731
            options[how] = (block_median(call, x, 5, 20), call)
        how = min(options, key=lambda k: options[k][0])
        compiled_with[name] = how
        calls[(name, "keras_compiled", "float32")] = options[how][1]

    for name, line in lines.items():
        model = keras.models.load_model(models_dir / line / f"{name}.keras", compile=False)
        keras_calls(name, model)
        for fmt in FORMATS:
            path = exports / line / f"{name}{fmt.suffix}"
            if path.exists():
                calls[(name, fmt.runtime, fmt.precision)] = native(fmt, load(fmt.runtime, path, threads).predict)
    empty = keras.Sequential([keras.Input(test.shape[1:]), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(len(classes), activation="softmax")], name="empty")
    keras_calls("empty", empty)
    for fmt in FORMATS:
        path = scratch / f"empty{fmt.suffix}"
        try:
            convert(empty, fmt, path, train[:20], test[:1])
        except ConversionError as e:
            print(f"the near-empty model has no {fmt.label} file: {e}", file=sys.stderr)
            continue
        calls[("empty", fmt.runtime, fmt.precision)] = native(fmt, load(fmt.runtime, path, threads).predict)
    return calls, test[0], compiled_with


def native(fmt, predict):
    """A file's call on the input type it takes: a uint8 file gets the uint8 pixels a device would give it
    (no float conversion timed); every other file float32."""
    import numpy as np

    return (lambda x: predict(x.astype(np.uint8))) if fmt.precision == "uint8" else predict


def one_run(calls: dict, image, families: list[tuple[str, str]], args) -> dict:
    from tqdm import tqdm

    from ricecnn.deploy.latency import Spread, interleaved, paired_ratio

    before = os.getloadavg()
    start = time.time()
    with tqdm(total=args.rounds, desc="rounds", unit="round") as bar:
        rounds = interleaved(calls, image, args.rounds, args.warmup, args.repeats, seed=args.seed,
                             progress=lambda r: bar.update(1))
    latency = {}
    for (model, runtime, precision), values in rounds.items():
        latency.setdefault(model, {})[f"{runtime}_{precision}"] = Spread.of(values).as_dict("_ms")
    ratios = {}
    for light, full in families:
        for (m, r, p), values in rounds.items():
            if m == light and (full, r, p) in rounds:
                ratios.setdefault(f"{light}/{full}", {})[f"{r}_{p}"] = paired_ratio(values, rounds[(full, r, p)]).as_dict()
    return {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)), "seconds": round(time.time() - start, 1),
            "load_before": [round(v, 2) for v in before], "load_after": [round(v, 2) for v in os.getloadavg()],
            "latency": latency, "ratios": ratios}


def compare_runs(runs: list[dict]) -> list[str]:
    """One line per family and runtime whose two runs' ratios differ by more than AGREE, with why."""
    out = []
    for pair, keys in runs[0]["ratios"].items():
        for key, first in keys.items():
            second = runs[1]["ratios"].get(pair, {}).get(key)
            if second is None:
                continue
            change = second["median"] / first["median"] - 1
            if abs(change) > AGREE:
                why = "a wide spread between rounds" if first["wide"] or second["wide"] else "the machine between runs"
                out.append(f"{pair} {key}: {first['median']:.3g} then {second['median']:.3g} ({change:+.0%}; {why})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicate", type=int, help="the exported replicate (default: params.yaml's first)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of every runtime")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=10, help="untimed calls per model and round")
    ap.add_argument("--repeats", type=int, default=50, help="timed calls per model and round: their median")
    ap.add_argument("--runs", type=int, default=2, help="whole runs back to back (2: does the bench repeat?)")
    ap.add_argument("--seed", type=int, default=0, help="the rounds' shuffled orders")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "latency.json")
    ap.add_argument("--exports", type=Path, help="the exported files, a folder per line (default: exports/<replicate>)")
    ap.add_argument("--models", type=Path, help="the .keras files, a folder per line (default: models/<replicate>)")
    ap.add_argument("--split-dir", type=Path, help="the split whose first test image is timed (default: data/split/<replicate>)")
    args = ap.parse_args()

    import tensorflow as tf  # threads before any TensorFlow op

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import yaml

    from ricecnn.core.io import write_json
    from ricecnn.networks.registry import REGISTRY

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    replicate = args.replicate if args.replicate is not None else params["replicates"][0]
    exports = args.exports or ROOT / "exports" / str(replicate)
    models_dir = args.models or ROOT / "models" / str(replicate)
    split_dir = args.split_dir or ROOT / "data" / "split" / str(replicate)
    lines = {p.name.removesuffix(".card.json"): p.parent.name for p in sorted(exports.glob("*/*.card.json"))}  # export@<line>'s
    names = sorted(lines)
    if not names:
        sys.exit(f"bench/latency.py: error: no exported model in {exports}: run `make repro` first")
    full = {spec.family: m for m, spec in REGISTRY.items() if spec.variant == "full"}
    families = [(m, full[spec.family]) for m, spec in REGISTRY.items() if spec.variant == "light"]  # light over full
    families += [(m, m.rsplit("_", 1)[0]) for m in names if m.endswith(("_pruned", "_trim"))]  # derived over its own
    families = [(a, b) for a, b in families if a in names and b in names]
    measured = conditions(args.threads)  # before anything runs: a failure here costs nothing
    with tempfile.TemporaryDirectory() as scratch:
        calls, image, compiled_with = runners(exports, models_dir, lines, split_dir, args.threads, Path(scratch))
        runs = [one_run(calls, image, families, args) for _ in range(args.runs)]
    disagree = compare_runs(runs) if len(runs) > 1 else []
    from ricecnn.deploy.bundle import file_md5

    record = {"replicate": replicate, "conditions": measured,
              "files": {name: file_md5(models_dir / lines[name] / f"{name}.keras") for name in names},
              "settings": {"rounds": args.rounds, "warmup": args.warmup, "repeats": args.repeats, "seed": args.seed,
                           "batch": 1, "image": "the first clean test image, float32 NHWC"},
              "keras_compiled_with": compiled_with,
              "summarize_reads": "runs[0]; Keras' figure in summary.csv is keras_compiled",
              "runs": runs, "agree_within": AGREE, "disagree": disagree}
    write_json(args.out, record)
    for pair, keys in runs[0]["ratios"].items():
        print(pair, " ".join(f"{k} {v['median']:.3g}" + (" (wide)" if v["wide"] else "") for k, v in keys.items()))
    if len(runs) > 1:
        print("runs 1 and 2: every ratio within 15 %" if not disagree else "not within 15 %:\n  " + "\n  ".join(disagree))


if __name__ == "__main__":
    main()
