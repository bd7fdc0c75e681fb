"""Rehearse the full-size study on a small dataset in the real one's exact shape, and measure it.

`make repro-paper` runs the paper's profile (``profiles/paper.yaml``: 224 px, the paper's 80/10/10
split and batch size, trimming of every full model, many training seeds) on Kaggle's 75,000 images:
a GPU day. This runs the same `dvc exp run --temp` with the same profile through every stage first,
on what a user who downloaded Kaggle's zip by hand has (``data.source=path``): a zip in Kaggle's
layout (``Rice_Image_Dataset/<Class>/*.jpg``, 250x250 RGB JPEGs, one grain on black, the citation
file), here drawn by the stand-in, ``--per-class`` images per class. What it changes, and only
that (listed in the output): fewer images, ``--seeds`` training seeds, ``--epochs`` epochs, short
trimming, no ImageNet download (``--weights``: none, or a local .h5 file), and ``-f`` (every stage
runs: the run-cache would otherwise restore what an earlier rehearsal made).

Each stage's wall time comes from DVC's own output (as ``tools/stage_times.py``); its peak memory
is the largest resident set size of the stage's processes together (the stage's command and any
workers it starts), sampled every 0.1 s through psutil, which finds a process's stage by the
``DVC_STAGE`` variable DVC gives every stage command. ``--json`` writes both, with the settings,
the sizes and the training and inference rates the projection in docs/full-size-study.md uses.

    python tools/rehearse_paper.py                 # `make rehearse-paper`: 30 images per class, 2 seeds
    python tools/rehearse_paper.py --per-class 6 --models cnn,cnn_light --seeds 42,43 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_subset import model_lists  # noqa: E402  (sibling scripts, not a package)
from profile_args import overrides  # noqa: E402
from stage_times import StageClock  # noqa: E402

from ricecnn.core.cli import TIMING  # noqa: E402  (a stage's timing line: printed, not recorded)

ROOT = Path.cwd()
DECODED = re.compile(r"^split: .* decoded (\d+) images/s")
SAMPLE_SECONDS = 0.1

# The real study's sizes (docs/paper.md) and its profile's work (profiles/paper.yaml, params.yaml)
FULL = {"images": 75_000, "train": 60_000, "val": 7_500, "test": 7_500}
CONDITIONS = {"first seed, full and light models": 7, "every other model": 2}
# Training images/s per model on one H200 (Keras on JAX, data on the device, batch 128, bf16), an
# earlier run of another setup, not of this code (docs/gpu.md): a projection's rates, not measured here
GPU_TRAIN = {"cnn": 14_575, "googlenet": 7_813, "vgg16": 14_585, "googlenet_light": 9_784}


def kaggle_zip(dest: Path, per_class: int, seed: int) -> Path:
    """The stand-in drawn as Kaggle's zip: ``Rice_Image_Dataset/<Class>/<Class> (i).jpg`` at 250x250
    and the citation file at the top (drawn once per size; kept for the next rehearsal)."""
    from ricecnn.data import sources

    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_suffix(".part")
        sources.make_synthetic(part, per_class=per_class, seed=seed, size=250)
        with zipfile.ZipFile(part, "a") as zf:
            zf.writestr("Rice_Citation_Request.txt", "Koklu, M., Cinar, I., Taspinar, Y. S. (2021). "
                        "Classification of rice varieties with deep learning methods.")
        part.replace(dest)
    return dest


def settings(profile: list[str], params: dict, args) -> tuple[list[str], list[str]]:
    """The profile's overrides, then the rehearsal's, as ``key=value`` strings (a key the rehearsal
    sets replaces the profile's; ``~key`` removes a model the rehearsal leaves out; ``+key=value``
    adds a key params.yaml's entry lacks, e.g. a model's own learning rate); and the models kept."""
    models = args.models.split(",") if args.models else list(params["models"])
    unknown = set(models) - set(params["models"])
    if unknown:
        sys.exit(f"rehearse: unknown models {sorted(unknown)}; params.yaml has {', '.join(params['models'])}")
    dropped = [m for m in params["models"] if m not in models]
    over = dict(item.split("=", 1) for item in profile)
    # a model's overrides only for the models kept (hydra would add an entry for any other)
    over = {k: v for k, v in over.items() if not k.startswith("models.") or k.split(".")[1] in models}
    # prune.models as params.yaml has it, trim.models and criteria.models as the profile sets them (else
    # params.yaml's), each keeping only the models kept (tools/model_subset.py)
    listed = {**params, **{s: {**params[s], "models": yaml.safe_load(over.get(f"{s}.models", "null"))
                               or params[s]["models"]} for s in ("trim", "criteria")}}
    kept = {s: "[" + ",".join(names) + "]" for s, names in model_lists(listed, models).items()}
    own = {
        "data.source": "path",
        "data.path": str(args.zip),
        "replicates": "[" + ",".join(str(s) for s in args.seeds) + "]",
        "prune.models": kept["prune"],
        "trim.models": kept["trim"],
        "trim.max_rounds": str(args.trim_rounds),
        "trim.finetune_epochs": "1",
        "criteria.models": kept["criteria"],
        "criteria.targets": "[0.25]",  # one target of the profile's: each runs the same code
        "criteria.finetune_epochs": "1",
        **({"criteria.rules": "[" + args.rules + "]"} if args.rules else {}),
        **({"export.formats": "[" + args.export_formats + "]"} if args.export_formats else {}),
        **{f"models.{m}.epochs": str(args.epochs) for m in models},
        **{f"models.{m}.weights": args.weights for m in models if m.startswith("vgg16")},
    }
    def held(key: str) -> bool:  # whether params.yaml holds the key (hydra adds one only as +key=value)
        node = params
        for k in key.split("."):
            if not isinstance(node, dict) or k not in node:
                return False
            node = node[k]
        return True

    return [f"{'' if held(k) else '+'}{k}={v}" for k, v in {**over, **own}.items()] + [f"~models.{m}" for m in dropped], models


class Sampler(threading.Thread):
    """The peak resident set size (bytes) of each DVC stage's processes together, sampled."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root, self.peak, self.done = psutil.Process(root_pid), defaultdict(int), threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            by_stage = defaultdict(int)
            try:
                children = self.root.children(recursive=True)
            except psutil.Error:
                return
            for p in children:
                try:
                    stage = p.environ().get("DVC_STAGE")
                    if stage:
                        by_stage[stage] += p.memory_info().rss
                except psutil.Error:  # the process ended between the listing and the reading
                    continue
            for stage, rss in by_stage.items():
                self.peak[stage] = max(self.peak[stage], rss)


def run_experiment(cmd: list[str], env: dict) -> tuple[int, dict[str, float], dict[str, int], float, int | None, list[dict]]:
    """Run ``cmd`` (dvc exp run), passing its output through; (exit status, seconds per stage,
    peak RSS per stage, total seconds, split's own "decoded N images/s" if it printed one, the stages'
    timing lines)."""
    decoded, timings = None, []
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1)
    sampler = Sampler(proc.pid)
    sampler.start()
    clock = StageClock()
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        clock.feed(line)
        if m := DECODED.match(line):
            decoded = int(m[1])
        if line.startswith(TIMING):
            timings.append(json.loads(line[len(TIMING):]))
    rc = proc.wait()
    end = time.monotonic()
    sampler.done.set()
    sampler.join()
    return rc, clock.seconds(end), dict(sampler.peak), end - start, decoded, timings


def experiment_file(name: str, path: str):
    """A file of the experiment's commit, parsed as JSON (None if absent)."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], capture_output=True,
                          text=True, check=True).stdout.split()
    ref = next((r for r in refs if r.rsplit("/", 1)[-1] == name), None)
    shown = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True) if ref else None
    return json.loads(shown.stdout) if shown is not None and shown.returncode == 0 else None


def rates(name: str, models: list[str], seeds: list[int], timings: list[dict]) -> dict:
    """Images per second the experiment measured, from its stages' timing lines (``timings``): training
    (the last epoch's training part, so no compilation in it) and batched inference on the clean test
    set (evaluate), per model: training the first seed's, inference the last evaluate's that printed one."""
    out: dict[str, dict] = {"train": {}, "inference": {}}
    for t in timings:
        if t["stage"] == f"train@{t.get('model')}-{seeds[0]}" and t["model"] in models and t.get("epoch_seconds"):
            trained = experiment_file(name, f"metrics/train/{seeds[0]}/{t['model']}.json") or {}
            out["train"][t["model"]] = {"images": t["train_images"], "epoch_seconds": t["epoch_seconds"][-1],
                                        "images_per_second": t["train_images"] / t["epoch_seconds"][-1],
                                        "frozen_prefix_cached": trained.get("frozen_prefix_cached", False)}
        elif t["stage"] == "evaluate":
            out["inference"][t["model"]] = {"images_per_second": t["images_per_second"], "test_images": t["test_images"]}
    return out


def work(profile: str, params: dict) -> dict:
    """The full study's work per seed, from the profile and params.yaml: training seeds, each model's
    epochs, and trimming's most fine-tuning epochs (max_rounds x finetune_epochs)."""
    over = dict(o.split("=", 1) for o in overrides(profile))
    value = lambda key, default: yaml.safe_load(over[key]) if key in over else default  # noqa: E731
    c = {k: value(f"criteria.{k}", v) for k, v in params["criteria"].items()}
    epochs = {m: value(f"models.{m}.epochs", e["epochs"]) for m, e in params["models"].items()}
    # the layer ranking's cuts fine-tuned (random's first draw), and each target's architecture from scratch
    tuned = len(c["rules"]) * len(c["targets"]) * c["finetune_epochs"] if "layer" in c["rankings"] else 0
    scratch = len(c["targets"]) if "layer" in c["rankings"] else 0  # for each model of criteria.scratch
    return {"seeds": len(value("replicates", params["replicates"])), "epochs": epochs,
            "trim_epochs": value("trim.max_rounds", params["trim"]["max_rounds"])
            * value("trim.finetune_epochs", params["trim"]["finetune_epochs"]),
            "criteria_epochs": {m: tuned + (scratch * epochs[m] if m in c["scratch"] else 0) for m in c["models"] if m in epochs},
            "eval_batch": value("evaluate.batch_size", params["evaluate"]["batch_size"])}


def projection(r: dict, full: dict, eval_batch: int) -> dict:
    """The real study's cost on this machine (hours), from the rehearsal's measured rates and the
    profile's work (``work``): the terms that grow with the data (training, trimming's fine-tuning,
    evaluation, decoding). Inference rates: evaluate's clean pass, corrected for its padding (every
    batch is padded to the batch size, so 15 test images cost a batch of 64)."""
    seeds = full["seeds"]
    inf = {}
    for m, v in r["rates"]["inference"].items():
        n = v["test_images"]
        padded = -(-n // eval_batch) * eval_batch
        inf[m] = v["images_per_second"] * padded / n
    rows = []
    for m, t in r["rates"]["train"].items():
        rate = t["images_per_second"]
        if t["frozen_prefix_cached"]:  # at full size the frozen base is not cached: it runs forward every step
            rate = 1 / (1 / rate + 1 / inf[m])
        epoch = FULL["train"] / rate + FULL["val"] / inf[m]
        rows.append({"model": m, "train_images_per_second": round(rate, 1), "inference_images_per_second": round(inf[m], 1),
                     "train_hours_per_seed": round(full["epochs"][m] * epoch / 3600, 1),
                     "trim_hours_per_seed": round(full["trim_epochs"] * epoch / 3600, 1) if m in r["trimmed"] else None,
                     "criteria_hours_per_seed": round(full["criteria_epochs"][m] * epoch / 3600, 1)
                     if m in full["criteria_epochs"] else None,
                     "gpu_train_minutes_per_seed": round(full["epochs"][m] * FULL["train"] / GPU_TRAIN[m] / 60, 1)
                     if m in GPU_TRAIN else None})
    evaluated = sum(FULL["test"] * 2 / inf[m] for m in inf)  # clean and augmented, every evaluated model
    first = sum(FULL["test"] * 5 / inf[x["model"]] for x in rows)  # each transform alone: the first seed's trained models
    train = sum(x["train_hours_per_seed"] for x in rows)
    trim = sum(x["trim_hours_per_seed"] or 0 for x in rows)
    crit = sum(x["criteria_hours_per_seed"] or 0 for x in rows)
    # the scratch controls train the trimmed architectures: at most their full model's cost
    scratch = sum(x["train_hours_per_seed"] for x in rows if x["model"] in r["trimmed"])
    rate = r["rates"].get("decode_images_per_second")
    decode = FULL["images"] / rate / 3600 if rate else None
    return {"rows": rows, "seeds": seeds, "decode_hours": decode and round(decode, 2),
            "evaluate_hours_per_seed": round(evaluated / 3600, 1),
            "cpu_hours": round(seeds * (train + trim + crit + scratch + evaluated / 3600) + first / 3600 + (decode or 0))}


def projection_table(p: dict) -> str:
    """Markdown: per model, the measured rates and the projected hours."""
    def h(v):
        return "-" if v is None else f"{v:,.1f}"

    lines = ["| model | training, images/s (measured) | inference, images/s (measured) | training, h per seed "
             "(projected) | trimming, h per seed (projected) | criteria, h per seed (projected) | training on one H200, "
             "min per seed (projected) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for x in p["rows"]:
        lines.append(f"| {x['model']} | {x['train_images_per_second']:,.1f} | {x['inference_images_per_second']:,.1f} | "
                     f"{h(x['train_hours_per_seed'])} | {h(x['trim_hours_per_seed'])} | {h(x.get('criteria_hours_per_seed'))} | "
                     f"{h(x['gpu_train_minutes_per_seed'])} |")
    return "\n".join(lines) + "\n"


def table(stages: list[dict]) -> str:
    """Markdown: per kind of stage, how many ran, their seconds (total, longest) and peak memory."""
    kinds: dict[str, list[dict]] = defaultdict(list)
    for s in stages:
        kinds[s["stage"].split("@")[0]].append(s)
    lines = ["| stage | runs | seconds, total | seconds, longest run | peak memory, largest run (MiB) |",
             "|---|---:|---:|---:|---:|"]
    for kind, runs in kinds.items():
        lines.append(f"| {kind} | {len(runs)} | {sum(r['seconds'] for r in runs):.0f} | "
                     f"{max(r['seconds'] for r in runs):.0f} | {max(r['peak_rss_mib'] for r in runs):,.0f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="profiles/paper.yaml")
    ap.add_argument("--per-class", type=int, default=30, help="images per class in the drawn Kaggle-layout zip")
    ap.add_argument("--seeds", default="42,43", help="training seeds (two reach the comparisons over seeds)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--trim-rounds", type=int, default=2)
    ap.add_argument("--rules", default="", help="comma-separated channel criteria to run (default: the profile's, "
                    "else params.yaml's); each runs the same stage code")
    ap.add_argument("--export-formats", default="", help="comma-separated export formats (default: every one of "
                    "export.formats; each costs a conversion and a scoring of every model at 224 px)")
    ap.add_argument("--models", default="", help="comma-separated models to keep (default: every model)")
    ap.add_argument("--weights", default="none", help="for the VGG16s: none, or a local Keras VGG16 notop .h5")
    ap.add_argument("--name", default="rehearse-paper", help="the experiment's name")
    ap.add_argument("--data-dir", default="data/rehearsal", help="where the drawn zip is kept")
    ap.add_argument("--json", help="write the measurements here")
    ap.add_argument("--reproject", action="store_true",
                    help="recompute the projection of --json's measurements for the current profile; run nothing")
    args = ap.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if args.reproject:
        result = json.loads(Path(args.json).read_text())
        return finish(result, args, params)
    args.zip = kaggle_zip((ROOT / args.data_dir / f"rice-image-dataset-{args.per_class}.zip").resolve(),
                          args.per_class, params["seed"])
    over, kept = settings(overrides(args.profile), params, args)
    print("rehearse: the profile's overrides, then the rehearsal's:\n  " + "\n  ".join(over), flush=True)
    cmd = ["dvc", "exp", "run", "--temp", "-f", "-n", args.name, *(a for o in over for a in ("-S", o))]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    rc, seconds, peak, total, decoded, timings = run_experiment(cmd, env)
    stages = [{"stage": s, "seconds": round(t, 1), "peak_rss_mib": round(peak.get(s, 0) / 2**20)}
              for s, t in seconds.items()]
    print("\n" + table(stages))
    print(f"rehearse: {len(stages)} stages in {total:.0f} s" + ("" if rc == 0 else f"; dvc exp run exited with {rc}"))
    if rc != 0:
        return rc
    result = {
        "profile": args.profile, "overrides": over, "per_class": args.per_class, "classes": 5,
        "seeds": args.seeds, "epochs": args.epochs,
        "machine": {"cpus": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30),
                    "python": platform.python_version()},
        "seconds": round(total), "stages": stages, "rates": rates(args.name, kept, args.seeds, timings),
        "trimmed": [m for m in yaml.safe_load(dict(o.split("=", 1) for o in over if "=" in o)["trim.models"])],
    }
    result["rates"]["decode_images_per_second"] = decoded
    return finish(result, args, params)


def finish(result: dict, args, params: dict) -> int:
    """The projection of the measurements for the profile's work, its tables, and the JSON."""
    full = work(args.profile, params)
    result["projection"] = projection(result, full, full["eval_batch"])  # the batch the profile evaluates with
    result["tables"] = {"stages": table(result["stages"]), "projection": projection_table(result["projection"])}
    print(result["tables"]["projection"])
    print(f"rehearse: projected for the full study on this machine: {result['projection']['cpu_hours']:,} CPU hours "
          f"({full['seeds']} seeds)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"rehearse: wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
