#!/usr/bin/env python3
"""Training throughput (images/s) of ricecnn's six models: a plain PyTorch loop vs ricecnn's own.

What is measured, in one run, for each model (cnn, cnn_light, googlenet, googlenet_light, vgg16,
vgg16_light; 224x224 RGB, 5 classes by default):

(a) torch eager: the same architecture in plain PyTorch (`bench/torch_models.py`, layer for layer
    as docs/paper.md, "The six models"; for VGG the same base layers frozen as ricecnn's `freeze` setting),
    channels_last, bf16 autocast (float32 on CPU), Adam (torch's default, foreach), cross-entropy,
    batch 128, cudnn.benchmark on (`--no-cudnn-benchmark`). The images are random uint8 NHWC
    batches already on the device, cast and scaled by 1/255 inside the step (as the Keras models'
    Rescaling layer does). `--warmup` steps, then `--steps` timed steps between two
    `torch.cuda.synchronize()`. `--torch-compile` adds the same loop on `torch.compile(model)`.
(b) ricecnn: `ricecnn.training.fit.fit` (the training loop of `dvc repro train@<model>`: Keras
    `fit` with ricecnn's input pipeline and frozen-prefix caching) in one subprocess per backend
    and model (KERAS_BACKEND=jax by default; `--backends jax,torch` adds Keras-on-torch), after
    `ricecnn.training.runtime.configure(seed, mixed_precision=True)`, on `--images` random uint8 images
    (128 x 40 by default) plus a tiny validation set, for `--epochs` epochs (3 by default), every one
    of them run (no early stopping, as the train stage's default), at a constant learning rate of
    1e-3 (the schedule does not change what a step costs).
    Throughput = training images / the fastest epoch after the first (the first one compiles); the
    epoch times are ricecnn's `epoch_seconds` (training only, validation excluded). `--input-path`,
    `--jit-compile` and `--steps-per-execution` are passed on to `fit`. TensorFlow is hidden from
    these workers (as on a GPU box without it), and JAX must find a GPU (JAX_PLATFORMS=cuda) unless
    `--device cpu`.

Before timing anything, the parameter counts of the torch and Keras models (224 px, 5 classes) are
compared with each other and with the paper's (docs/paper.md); a mismatch stops the run (exit 1).

Output: a markdown table on stdout (model | torch eager img/s | ricecnn (jax) img/s | ratio
ricecnn/torch | ...), all numbers as JSON to `--out`. A model that fails (e.g. out of memory) gets
FAILED in its cells and the reason in the notes column; the others still run. The JSON file is
rewritten after each measurement, so a run cut short keeps what it measured. Expect seconds per
model for the torch part, and for ricecnn up to a minute or so per model and backend (start-up,
building, the first epoch's compilation): `--models` helps to fit a short device slot.

On a GPU box (torch and JAX with CUDA; TensorFlow, DVC and network not needed; ricecnn runs from
this checkout's src/, no install needed):

    python3 bench/gpu_train.py --out $OUT/gpu_train.json
    python3 bench/gpu_train.py --models cnn,googlenet --backends jax,torch --torch-compile

CPU smoke test (seconds; on a small, busy CPU OMP_NUM_THREADS=1 keeps torch from thrashing):

    python3 bench/gpu_train.py --device cpu --size 32 --images 64 --batch 16 --steps 3 --models cnn_light

Context, the anchor from the issue: plain PyTorch eager, channels_last, bf16, batch 128, 224 px, on
one H200: cnn 13,331, googlenet 6,258, vgg16 7,796 images/s.

Notes for reading the numbers: with `freeze: paper` ricecnn computes a frozen VGG prefix once when
its features fit in 2 GiB ("frozen_prefix_cached" in the JSON; at 224 px and the default image
count they do not), while the torch loop always runs the frozen layers forward. The torch models
have random weights (VGG too: no ImageNet download), which does not change their cost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # ricecnn from this checkout, no install needed
sys.path.insert(0, str(ROOT / "bench"))  # torch_models

MODELS = ("cnn", "cnn_light", "googlenet", "googlenet_light", "vgg16", "vgg16_light")
NUM_CLASSES = 5
# docs/paper.md, "The six models": parameter counts at 224x224x3 and 5 classes
PAPER_PARAMS = {
    "cnn": 12_939_077,
    "cnn_light": 51_669,
    "googlenet": 5_978_677,
    "googlenet_light": 580_905,
    "vgg16": 14_979_909,
    "vgg16_light": 1_802_565,
}
RESULT_TAG = "GPU_TRAIN_RESULT "  # a worker subprocess's last stdout line: this tag + JSON


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def short_error(e: BaseException | str, limit: int = 160) -> str:
    if isinstance(e, BaseException):
        text = str(e).strip().splitlines()
        name = type(e).__name__
        if "OutOfMemory" in name or (text and "out of memory" in text[0].lower()):
            return f"OOM: {text[0][:limit] if text else name}"
        return f"{name}: {text[0][:limit]}" if text else name
    return e.strip()[:limit]


def freeze_value(text: str) -> str | int:
    return int(text) if text.lstrip("-").isdigit() else text


def keras_options(name: str, freeze) -> dict:
    return {"weights": None, "freeze": freeze} if name.startswith("vgg16") else {}


# --- subprocess workers (run as `gpu_train.py --worker KIND JSON`) --------------------------------

def worker_env(backend: str, device: str) -> dict:
    """Environment of a Keras subprocess: the backend, and on CPU no GPU for JAX or torch."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    if device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif backend == "jax":
        env.setdefault("JAX_PLATFORMS", "cuda")  # fail loudly rather than train on the CPU
    return env


def run_worker(kind: str, cfg: dict, env: dict, timeout: float) -> dict:
    """Run this script as a worker subprocess; its result dict, or {"error": ...}."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(cfg)]
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = [line for line in (p.stderr + p.stdout).strip().splitlines() if line.strip()]
    reason = tail[-1] if tail else "no output"
    if any("out of memory" in line.lower() or "RESOURCE_EXHAUSTED" in line for line in tail[-30:]):
        reason = "OOM: " + reason
    return {"error": f"exit {p.returncode}: {reason[:200]}", "stderr_tail": "\n".join(tail[-40:])}


def worker_keras_params(cfg: dict) -> dict:
    """(total, trainable) parameter counts of the Keras models (built on the CPU)."""
    import numpy as np

    from ricecnn.networks.build import build_model

    out = {}
    for name in cfg["models"]:
        model = build_model(name, cfg["size"], cfg["num_classes"], keras_options(name, cfg["freeze"]))
        out[name] = [int(model.count_params()), sum(int(np.prod(w.shape)) for w in model.trainable_weights)]
    return out


def worker_ricecnn(cfg: dict) -> dict:
    """Train one model with ricecnn's `train` on random data; images/s and the run's facts."""
    import keras
    import numpy as np

    from ricecnn.training import runtime
    from ricecnn.networks.build import build_model
    from ricecnn.training.fit import fit as train

    name, size, seed = cfg["model"], cfg["size"], cfg["seed"]
    backend = keras.backend.backend()
    device = _keras_device(backend, cfg["device"])
    runtime.configure(seed, mixed_precision=cfg["mixed_precision"])
    model = build_model(name, size, NUM_CLASSES, keras_options(name, cfg["freeze"]))
    params = int(model.count_params())
    rng = np.random.default_rng(seed)

    def data(n):
        return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, NUM_CLASSES, n)

    train_xy, val_xy = data(cfg["images"]), data(cfg["val_images"])

    start = time.perf_counter()
    metrics = train(model, train_xy, val_xy, num_classes=NUM_CLASSES, epochs=cfg["epochs"],
                    batch_size=cfg["batch"], patience=None, learning_rate=1e-3, seed=seed,
                    input_path=cfg["input_path"], jit_compile=cfg["jit_compile"],
                    steps_per_execution=cfg["steps_per_execution"])
    wall = time.perf_counter() - start

    epoch_seconds = metrics["epoch_seconds"]  # training part of each epoch, validation excluded
    steady = epoch_seconds[1:] or epoch_seconds
    return {
        "images_per_second": len(train_xy[1]) / min(steady),
        "epoch_seconds": [float(s) for s in epoch_seconds],
        "train_call_seconds": wall,
        "train_images": len(train_xy[1]),
        "input_path": metrics["input_path"],
        "frozen_prefix_cached": metrics.get("frozen_prefix_cached"),
        "params": params,
        "backend": backend,
        "keras": keras.__version__,
        "device": device,
        "dtype_policy": keras.mixed_precision.global_policy().name,
        "tensorflow_imported": "tensorflow" in sys.modules,
    }


def _keras_device(backend: str, device: str) -> str:
    """The device Keras' backend computes on (a GPU is required unless --device cpu)."""
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        found = f"{d.platform}: {getattr(d, 'device_kind', d)} (jax {jax.__version__})"
        on_gpu = d.platform == "gpu"
    elif backend == "torch":
        import torch

        on_gpu = torch.cuda.is_available()
        found = f"cuda: {torch.cuda.get_device_name(0)} (torch {torch.__version__})" if on_gpu else "cpu"
    else:
        return backend
    if device == "cuda" and not on_gpu:
        raise RuntimeError(f"--device cuda, but Keras' {backend} backend sees no GPU ({found})")
    return found


class HideTensorFlow:
    """An import hook under which `import tensorflow` fails, as on a GPU box without TensorFlow, so
    that a worker on another backend runs as it would there (Keras imports TensorFlow wherever it
    finds it, e.g. in `set_random_seed`). `importlib.util.find_spec` still answers (a spec without
    origin), as some libraries probe with it."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] != "tensorflow":
            return None
        import importlib.machinery

        return importlib.machinery.ModuleSpec(name, self)

    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r} (hidden by bench/gpu_train.py)", name=spec.name)

    def exec_module(self, module):  # never reached
        raise ModuleNotFoundError(module.__name__)


def worker_main(kind: str, cfg_json: str) -> None:
    cfg = json.loads(cfg_json)
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        sys.meta_path.insert(0, HideTensorFlow())
    result = {"keras_params": worker_keras_params, "ricecnn": worker_ricecnn}[kind](cfg)
    print(RESULT_TAG + json.dumps(result), flush=True)


# --- parameter counts ------------------------------------------------------------------------------

def check_params(models: list[str], freeze) -> tuple[dict, bool]:
    """Compare the torch and Keras models' parameter counts at 224 px / 5 classes, and the paper's."""
    import torch_models

    # Built on the CPU (the GPU stays free): Keras-on-torch builds in seconds, Keras-on-JAX is the
    # fallback (it traces each layer: a minute for the six models on a small CPU).
    cfg = {"models": models, "size": 224, "num_classes": NUM_CLASSES, "freeze": freeze}
    keras_counts = run_worker("keras_params", cfg, worker_env("torch", "cpu"), timeout=900)
    if "error" in keras_counts:
        log(f"Keras-on-torch could not count the parameters ({keras_counts['error']}); trying Keras-on-JAX")
        keras_counts = run_worker("keras_params", cfg, worker_env("jax", "cpu"), timeout=900)
    if "error" in keras_counts:
        raise SystemExit(f"could not build the Keras models to count their parameters: {keras_counts['error']}\n"
                         f"{keras_counts.get('stderr_tail', '')}")
    out, ok = {}, True
    log("parameter counts at 224x224, 5 classes (total / trainable):")
    for name in models:
        t_total, t_train = torch_models.count_params(torch_models.build(name, 224, NUM_CLASSES, freeze))
        k_total, k_train = keras_counts[name]
        match = t_total == k_total == PAPER_PARAMS[name] and t_train == k_train
        ok &= match
        out[name] = {"torch": t_total, "torch_trainable": t_train, "keras": k_total, "keras_trainable": k_train,
                     "paper": PAPER_PARAMS[name], "match": match}
        log(f"  {name:16s} torch {t_total:>11,} / {t_train:>11,}   keras {k_total:>11,} / {k_train:>11,}"
            f"   paper {PAPER_PARAMS[name]:>11,}   {'ok' if match else 'MISMATCH'}")
    return out, ok


# --- (a) the plain PyTorch loop --------------------------------------------------------------------

def torch_throughput(name: str, args, compiled: bool) -> dict:
    """Images/s of a plain PyTorch training loop on random on-device data."""
    import torch
    import torch.nn.functional as F
    import torch_models

    device = torch.device(args.device)
    bf16 = args.precision == "bf16"
    torch.manual_seed(args.seed)
    model = torch_models.build(name, args.size, NUM_CLASSES, args.freeze)
    model = model.to(device=device, memory_format=torch.channels_last).train()
    step_model = torch.compile(model) if compiled else model
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    # A few distinct random batches, already on the device: uint8 NHWC images, int labels.
    gen = torch.Generator(device=device).manual_seed(args.seed)
    n_batches = min(4, args.warmup + args.steps)
    images = torch.randint(0, 256, (n_batches, args.batch, args.size, args.size, 3), dtype=torch.uint8,
                           device=device, generator=gen)
    labels = torch.randint(0, NUM_CLASSES, (n_batches, args.batch), device=device, generator=gen)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step(i: int) -> None:
        x = images[i % n_batches].permute(0, 3, 1, 2).float().div_(255)  # NHWC uint8 -> channels_last float
        with autocast:
            logits = step_model(x)
        loss = F.cross_entropy(logits.float(), labels[i % n_batches])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for i in range(args.warmup):
        step(i)
    sync()
    t1 = time.perf_counter()
    for i in range(args.steps):
        step(i)
    sync()
    seconds = time.perf_counter() - t1
    out = {"images_per_second": args.steps * args.batch / seconds, "timed_seconds": seconds,
           "warmup_seconds": t1 - t0, "steps": args.steps, "warmup_steps": args.warmup}
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def torch_environment(args) -> dict:
    import torch

    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda, but torch sees no GPU (use --device cpu for a CPU smoke test)")
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        name = torch.cuda.get_device_name(0)
    else:
        name = platform.processor() or platform.machine()
    return {"torch": torch.__version__, "device_name": name, "cuda": torch.version.cuda,
            "cudnn_benchmark": args.cudnn_benchmark if args.device == "cuda" else None}


def free_torch_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --- the report ------------------------------------------------------------------------------------

def fmt_rate(r: dict | None) -> str:
    if r is None:
        return "-"
    return "FAILED" if "error" in r else f"{r['images_per_second']:,.0f}"


def fmt_ratio(a: dict | None, b: dict | None) -> str:
    if not a or not b or "error" in a or "error" in b:
        return "-"
    return f"{a['images_per_second'] / b['images_per_second']:.2f}"


def table(results: dict, args) -> str:
    head = ["model", "torch eager img/s"]
    if args.torch_compile:
        head.append("torch compile img/s")
    for b in args.backends:
        head += [f"ricecnn ({b}) img/s", f"ratio ricecnn ({b})/torch"]
    head.append("notes")
    rows = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 or i == len(head) - 1 else "---:"
                                                     for i in range(len(head))) + "|"]
    for name, r in results.items():
        eager = r.get("torch_eager")
        cells = [name, fmt_rate(eager)]
        if args.torch_compile:
            cells.append(fmt_rate(r.get("torch_compile")))
        notes = []
        for key, res in r.items():
            if res and "error" in res:
                notes.append(f"{key}: {res['error']}")
        for b in args.backends:
            rc = r.get(f"ricecnn_{b}")
            cells += [fmt_rate(rc), fmt_ratio(rc, eager)]
            if rc and "error" not in rc:
                facts = [f"input {rc['input_path']}"]
                if rc.get("frozen_prefix_cached"):
                    facts.append("frozen prefix cached")
                notes.append(f"{b}: " + ", ".join(facts))
        cells.append("; ".join(notes).replace("|", "/"))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


# --- main ------------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, or 'all' (default: all six)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--size", type=int, default=224, help="image size in px (default 224)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--precision", choices=("bf16", "fp32"),
                    help="bf16 = torch autocast + Keras mixed_bfloat16 (default on cuda), fp32 (default on cpu)")
    ap.add_argument("--freeze", type=freeze_value, default="paper",
                    help="VGG freezing: paper, none or N (as in params.yaml)")
    ap.add_argument("--seed", type=int, default=0)
    g = ap.add_argument_group("torch loop")
    g.add_argument("--steps", type=int, default=50, help="timed training steps (default 50)")
    g.add_argument("--warmup", type=int, help="untimed steps first (default 10 on cuda, 2 on cpu)")
    g.add_argument("--torch-compile", action="store_true", help="also time torch.compile(model)")
    g.add_argument("--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false")
    g.add_argument("--skip-torch", action="store_true", help="only the ricecnn part")
    g = ap.add_argument_group("ricecnn")
    g.add_argument("--backends", default="jax", help="Keras backends for ricecnn's train, comma-separated")
    g.add_argument("--images", type=int, default=128 * 40, help="training images (default 5120)")
    g.add_argument("--val-images", type=int, default=128)
    g.add_argument("--epochs", type=int, default=3, help="epochs (default 3; the first is not timed)")
    g.add_argument("--input-path", default="auto", choices=("auto", "host", "device"))
    g.add_argument("--jit-compile", default="auto", type=lambda s: {"true": True, "false": False}.get(s.lower(), s))
    g.add_argument("--steps-per-execution", type=int, default=1)
    g.add_argument("--worker-timeout", type=float, default=3600, help="seconds per ricecnn model (default 3600)")
    g.add_argument("--skip-ricecnn", action="store_true", help="only the torch part")
    ap.add_argument("--check-params-only", action="store_true", help="compare the parameter counts and stop")
    ap.add_argument("--skip-param-check", action="store_true")
    ap.add_argument("--out", help="write all numbers to this JSON file")
    args = ap.parse_args(argv)
    args.models = list(MODELS) if args.models == "all" else [m.strip() for m in args.models.split(",") if m.strip()]
    for m in args.models:
        if m not in MODELS:
            ap.error(f"unknown model {m!r}: one of {', '.join(MODELS)}")
    args.backends = [] if args.skip_ricecnn else [b.strip() for b in args.backends.split(",") if b.strip()]
    args.precision = args.precision or ("bf16" if args.device == "cuda" else "fp32")
    args.warmup = args.warmup if args.warmup is not None else (10 if args.device == "cuda" else 2)
    return args


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], sys.argv[3])
        return 0
    args = parse_args(argv)
    report = {"config": {k: v for k, v in vars(args).items()}, "environment": {}, "params": {}, "results": {}}

    if not args.skip_param_check:
        report["params"], ok = check_params(args.models, args.freeze)
        if not ok:
            log("FAILED: the torch and Keras models differ in parameter count (see above)")
            write_json(args.out, report)
            return 1
    if args.check_params_only:
        write_json(args.out, report)
        return 0

    results = report["results"] = {name: {} for name in args.models}

    def record(name: str, key: str, result: dict) -> dict:
        results[name][key] = result
        write_json(args.out, report, quiet=True)  # after each number: a run cut short keeps what it measured
        return result

    if not args.skip_torch:
        report["environment"].update(torch_environment(args))
        log(f"torch {report['environment']['torch']} on {report['environment']['device_name']}: "
            f"{args.size} px, batch {args.batch}, {args.precision}, channels_last, {args.steps} steps")
        for name in args.models:
            variants = [("torch_eager", False)] + ([("torch_compile", True)] if args.torch_compile else [])
            for key, compiled in variants:
                try:
                    r = record(name, key, torch_throughput(name, args, compiled))
                    log(f"  {name} {key}: {r['images_per_second']:,.0f} images/s")
                except Exception as e:  # OOM and the like: report it, go on
                    r = record(name, key, {"error": short_error(e)})
                    log(f"  {name} {key}: FAILED {r['error']}")
                free_torch_memory()

    for backend in args.backends:
        log(f"ricecnn train, KERAS_BACKEND={backend}: {args.images} images of {args.size} px, batch {args.batch}, "
            f"{args.epochs} epochs, {args.precision}")
        for name in args.models:
            cfg = {"model": name, "size": args.size, "batch": args.batch, "images": args.images,
                   "val_images": args.val_images, "epochs": args.epochs, "seed": args.seed, "freeze": args.freeze,
                   "mixed_precision": args.precision == "bf16", "device": args.device, "input_path": args.input_path,
                   "jit_compile": args.jit_compile, "steps_per_execution": args.steps_per_execution}
            r = record(name, f"ricecnn_{backend}",
                       run_worker("ricecnn", cfg, worker_env(backend, args.device), args.worker_timeout))
            if "error" in r:
                log(f"  {name}: FAILED {r['error']}\n" + r.get("stderr_tail", "")[-3000:])
            else:
                epochs = ", ".join(f"{s:.2f}" for s in r["epoch_seconds"])
                log(f"  {name}: {r['images_per_second']:,.0f} images/s (epochs {epochs} s; input {r['input_path']};"
                    f" {r['device']})")
                if r["tensorflow_imported"]:
                    log("  WARNING: the ricecnn worker imported tensorflow")

    env = report["environment"]
    print(f"\n### Training images/s: {args.size}x{args.size}, batch {args.batch}, {args.precision}, "
          f"{args.device}{': ' + env['device_name'] if env.get('device_name') else ''}\n")
    print(table(results, args))
    write_json(args.out, report)
    return 0


def write_json(path: str | None, report: dict, quiet: bool = False) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
        os.replace(tmp, path)
        if not quiet:
            log(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
