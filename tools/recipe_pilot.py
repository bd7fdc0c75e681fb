"""Training recipes compared on fixed data: each model trained under several training seeds with each
recipe, on the same split, and scored on the same clean and augmented test images.

    python tools/recipe_pilot.py --split-dir data/split --models googlenet cnn_light \\
        --seeds 42 43 44 45 46 --recipe today=constant,patience=3 --recipe cosine=cosine,epochs=x1 \\
        --json pilot.json

A recipe is ``name=schedule[,patience=N][,epochs=xF|N][,lr=F]``: the learning-rate schedule (constant |
cosine), early stopping's patience (absent: none, the last epoch's weights are kept), the epoch
budget (``xF``: F times the model's ``models.<m>.epochs`` in the params file; ``N``: N epochs) and a
factor on the model's learning rate. Every
other setting (batch size, learning rate per model, weights) comes from the params file, and the
training loop is the pipeline's own (``ricecnn.training.fit``). The runs happen in this one process
(no per-run start-up), one model at a time.

Prints per model and recipe: clean and augmented test accuracy per seed, their standard deviation
over the seeds, the kept epoch, and the training seconds; ``--json`` keeps every run (with its
per-epoch curves); ``--table FILE`` prints the table of such a file again. docs/statistics.md reports
what this measured (bench/recipe-pilot.jsonl) and why the default recipe is the one it is.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def parse_recipe(text: str) -> tuple[str, dict]:
    name, _, spec = text.partition("=")
    schedule, *rest = spec.split(",")
    recipe = {"schedule": schedule, "patience": None, "epochs": "x1", "lr": 1.0}
    for item in rest:
        key, _, value = item.partition("=")
        recipe[key] = int(value) if key == "patience" else float(value) if key == "lr" else value
    return name, recipe


def epochs_for(recipe: dict, default: int) -> int:
    e = str(recipe["epochs"])
    return max(1, round(float(e[1:]) * default)) if e.startswith("x") else int(e)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split-dir", type=Path, default=Path("data/split"))
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--models", nargs="+")
    ap.add_argument("--seeds", nargs="+", type=int)
    ap.add_argument("--recipe", action="append", help="name=schedule[,patience=N][,epochs=xF|N][,lr=F]")
    ap.add_argument("--table", type=Path, help="print the table of a --json file of earlier runs, and train nothing")
    ap.add_argument("--json", type=Path, help="append every run here (one JSON object per line)")
    args = ap.parse_args()
    if args.table:
        rows = [json.loads(line) for line in args.table.read_text().splitlines() if line.strip()]
        print(table([r for r in rows if not args.models or r["model"] in args.models]))
        return

    import keras

    from ricecnn.training import runtime
    from ricecnn.core import settings
    from ricecnn.core.settings import PositiveInt, View
    from ricecnn.evaluation.augment import augment
    from ricecnn.data.arrays import Images, load_classes, load_split
    from ricecnn.inference.batches import predict
    from ricecnn.networks.build import build_model
    from ricecnn.training.fit import fit, settings_for
    from ricecnn.training.settings import Training

    class Scoring(View):  # evaluate's batch size: the test sets scored as the evaluate stage scores them
        batch_size: PositiveInt

    class Settings(Training):  # what the pilot reads: the stages' own views, together
        data: Images
        evaluate: Scoring

    s = settings.load(args.params, Settings)
    classes = load_classes(args.split_dir)
    train_xy, val_xy = load_split(args.split_dir, "train"), load_split(args.split_dir, "val")
    test, labels = load_split(args.split_dir, "test")
    sets = {"clean": test, "augmented": augment(test, s.seed, s.evaluate.batch_size)}
    recipes = dict(parse_recipe(r) for r in args.recipe)
    rows = []
    for name in args.models:
        entry = s.entry(name)
        for label, recipe in recipes.items():
            for seed in args.seeds:
                keras.backend.clear_session()
                runtime.configure(seed)
                model = build_model(name, s.data.img_size, len(classes), entry.options())
                kwargs = {**settings_for(s, name, seed), "patience": recipe["patience"], "schedule": recipe["schedule"]}
                kwargs["learning_rate"] *= recipe["lr"]
                start = time.perf_counter()
                m = fit(model, train_xy, val_xy, num_classes=len(classes), epochs=epochs_for(recipe, entry.epochs),
                        **kwargs)
                seconds = time.perf_counter() - start
                acc = {c: float(np.mean(predict(model, x, s.evaluate.batch_size).argmax(-1) == labels))
                       for c, x in sets.items()}
                row = {"model": name, "recipe": label, **recipe, "seed": seed, "seconds": seconds, **acc,
                       "val_accuracy": m["val_accuracy"], "best_epoch": m["best_epoch"], "epochs_run": m["epochs_run"],
                       "curves": m["curves"]}
                rows.append(row)
                print(f"PILOT {name} {label} seed {seed}: clean {acc['clean']:.3f} augmented {acc['augmented']:.3f} "
                      f"val {m['val_accuracy']:.3f} epoch {m['best_epoch']}/{m['epochs_run']} {seconds:.0f} s", flush=True)
                if args.json:
                    with args.json.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    print(table(rows))


def table(rows: list[dict]) -> str:
    """Per model and recipe: accuracy per seed, its SD over the seeds, kept epochs and seconds per run."""
    out = ["| model | recipe | seeds | clean per seed | clean SD (pts) | augmented per seed | augmented SD (pts) | "
           "kept epoch | seconds per run |", "|---|---|---:|---|---:|---|---:|---|---:|"]
    for name in dict.fromkeys(r["model"] for r in rows):
        for label in dict.fromkeys(r["recipe"] for r in rows if r["model"] == name):
            rs = [r for r in rows if r["model"] == name and r["recipe"] == label]
            c, a = np.array([r["clean"] for r in rs]), np.array([r["augmented"] for r in rs])
            out.append(f"| {name} | {label} | {len(rs)} | {' / '.join(f'{v:.3f}' for v in c)} | {100 * c.std(ddof=1):.1f} | "
                       f"{' / '.join(f'{v:.3f}' for v in a)} | {100 * a.std(ddof=1):.1f} | "
                       f"{', '.join(str(r['best_epoch']) for r in rs)} | {np.mean([r['seconds'] for r in rs]):.0f} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
