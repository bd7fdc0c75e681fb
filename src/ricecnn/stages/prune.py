"""Stage prune@<model>: remove the channels APoZ calls dead, physically, and check what changed.

Reads the trained model and its featuremaps metrics (per-channel APoZ over a validation sample),
removes every conv channel with APoZ >= prune.apoz_threshold (each conv keeps at least
prune.min_channels, those with the lowest APoZ), optionally fine-tunes the result for
prune.finetune_epochs with the train stage's loop, and writes the pruned model plus a metrics file:
channels per layer before and after, parameters, FLOPs, and the largest change of the model's
outputs on that validation sample (with threshold 1.0: float round-off only). See ricecnn/prune.py.

APoZ is measured again here, unrounded, on the very sample of the featuremaps stage (same seed,
same count), and checked against the metrics file: the file rounds APoZ to 4 decimals, so its 1.0
also covers a channel that is 0 on 99.995 % of the positions, and pruning that one would change
the outputs. A mismatch beyond the rounding means the metrics file is stale.
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path
from typing import Any

import numpy as np

from .. import params as params_mod
from ..data import load_classes, load_split
from ..distribute import predict_padded
from ..errors import RiceError
from ..io import read_json, write_json

DEFAULTS = {"apoz_threshold": 1.0, "min_channels": 1, "finetune_epochs": 0}
BATCH = 16  # images per forward pass (as in the featuremaps stage): bounds memory, no effect on results
APOZ_ROUNDING = 5.01e-5  # featuremaps writes APoZ rounded to 4 decimals
TOLERANCE = 1e-5  # the promised output difference with apoz_threshold 1.0 and no fine-tuning


def check_settings(section: Any) -> dict:
    """The `prune:` section of params.yaml with defaults filled in; RiceError on the first bad value."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise RiceError("params.yaml: prune must be a mapping such as {apoz_threshold: 1.0, min_channels: 1, finetune_epochs: 0}")
    for key in section:
        if key not in DEFAULTS:
            near = difflib.get_close_matches(str(key), list(DEFAULTS), n=1, cutoff=0.5)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (valid keys: {', '.join(DEFAULTS)})"
            raise RiceError(f"params.yaml: unknown key prune.{key}{hint}")
    cfg = {**DEFAULTS, **section}
    t = cfg["apoz_threshold"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 1:
        raise RiceError(f"params.yaml: prune.apoz_threshold = {t!r} must be a number in (0, 1] "
                        "(1.0: only channels that are zero on every validation image; lower prunes more)")
    for key, low in (("min_channels", 1), ("finetune_epochs", 0)):
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise RiceError(f"params.yaml: prune.{key} = {v!r} must be an integer >= {low}")
    cfg["apoz_threshold"] = float(t)
    return cfg


def load_params(path: str | Path) -> dict:
    """params.yaml, validated by ricecnn.params' schema; the `prune:` settings normalised here."""
    params = params_mod.load(path)
    section = params["prune"]
    params["prune"] = {**check_settings({k: v for k, v in section.items() if k != "models"}), "models": section["models"]}
    return params


def sample_indices(n: int, count: int, seed: int) -> np.ndarray:
    """The featuremaps stage's validation sample (ricecnn/stages/featuremaps.py: main)."""
    return np.sort(np.random.default_rng(seed).permutation(n)[:count])


def measure(model, layer_names: list[str], images: np.ndarray, batch_size: int = BATCH):
    """(exact per-channel APoZ of each layer, model outputs) over ``images``, in one pass per batch."""
    import keras

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in layer_names] + list(model.outputs))
    zeros = [0] * len(layer_names)
    positions = [0] * len(layer_names)
    outputs = []
    for start in range(0, len(images), batch_size):
        outs = probe.predict_on_batch(np.asarray(images[start:start + batch_size], dtype=np.float32))
        outs = [np.asarray(o) for o in outs]
        for i, a in enumerate(outs[:len(layer_names)]):
            zeros[i] = zeros[i] + (np.maximum(a, 0) == 0).sum(axis=(0, 1, 2), dtype=np.int64)
            positions[i] += a.shape[0] * a.shape[1] * a.shape[2]
        outputs.append(outs[-1])
    apoz = {n: z / p for n, z, p in zip(layer_names, zeros, positions)}
    return apoz, np.concatenate(outputs)


def check_against(recorded: dict, exact: dict[str, np.ndarray], where: Path, name: str) -> None:
    """The featuremaps metrics must be these APoZ values, rounded: else they belong to another model file."""
    for layer, values in exact.items():
        rec = recorded.get("layers", {}).get(layer)
        if rec is None or len(rec["apoz"]) != len(values) or np.max(np.abs(np.asarray(rec["apoz"]) - values)) > APOZ_ROUNDING:
            raise RiceError(f"{where} does not match the model (layer {layer}): it was measured on another "
                            f"model file; rerun `dvc repro featuremaps@{name}`")


def model_stats(model) -> dict:
    from ..flops import count_filters, count_flops

    flops = count_flops(model)
    return {"params": int(model.count_params()),
            "params_trainable": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
            "flops": flops["flops"], "macs": flops["macs"], "filters": count_filters(model)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="ricecnn prune", description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--model-file", type=Path, help="default models/<model>.keras")
    ap.add_argument("--featuremaps", type=Path, help="default metrics/featuremaps/<model>.json")
    ap.add_argument("--split-dir", default="data/split", type=Path)
    ap.add_argument("--out", type=Path, help="default models/<model>_pruned.keras")
    ap.add_argument("--metrics", type=Path, help="default metrics/prune/<model>.json")
    args = ap.parse_args(argv)
    name = args.model
    params = load_params(args.params)
    cfg, t, seed = params["prune"], params["train"], params["seed"]
    if cfg["finetune_epochs"] and name not in params["models"]:
        raise RiceError(f"model {name!r} has no entry under models: in {args.params} (needed for fine-tuning)")
    fm_path = args.featuremaps or Path("metrics/featuremaps") / f"{name}.json"
    recorded = read_json(fm_path)
    if recorded.get("model", name) != name:
        raise RiceError(f"{fm_path} holds the feature maps of {recorded['model']!r}, not {name!r}")
    classes = load_classes(args.split_dir)
    x, y = load_split(args.split_dir, "val")
    if not len(y):
        raise RiceError(f"the val split in {args.split_dir} is empty")

    from .train import select_backend

    runtime = select_backend(t["backend"])
    runtime.configure(seed, t["mixed_precision"] and cfg["finetune_epochs"] > 0)
    from .. import prune as P
    from ..models import feature_layers

    model = runtime.load_model(args.model_file or Path("models") / f"{name}.keras", name, x.shape[1:], len(classes))
    names = feature_layers(model)
    if not names:
        raise RiceError(f"{name} has no feature layers to prune")

    # APoZ, exact, on the featuremaps stage's sample; the original outputs on it come along
    idx = sample_indices(len(y), int(recorded.get("samples", len(y))), seed)
    exact, before_sample = measure(model, names, x[idx])
    check_against(recorded, exact, fm_path, name)
    keep = P.plan(model, {"layers": {n: {"apoz": a.tolist()} for n, a in exact.items()}}, cfg["apoz_threshold"], cfg["min_channels"])
    pruned = P.prune(model, keep, name=f"{model.name}_pruned")
    diff_sample = float(np.max(np.abs(predict_padded(pruned, x[idx], BATCH) - before_sample)))

    # The whole val split: accuracy before and after, and how far the outputs moved there
    batch = params["evaluate"]["batch_size"]
    before_val, after_val = predict_padded(model, x, batch), predict_padded(pruned, x, batch)
    per_conv = P.summary(model, keep)
    per_feature = {}
    for layer in names:
        parts = P.feature_convs(model, layer)
        per_feature[layer] = {"channels_before": sum(per_conv[c]["channels_before"] for c, _, _ in parts),
                              "channels_after": sum(per_conv[c]["channels_after"] for c, _, _ in parts),
                              "dead_channels": int(np.sum(exact[layer] >= 1.0))}
    stats_before, stats_after = model_stats(model), model_stats(pruned)
    # the same surgery on the architecture at 224 px, for the seed-size FLOPs beside the others
    from ..flops import count_flops
    from ..models import build_model

    options = {k: v for k, v in params["models"].get(name, {}).items() if k in ("freeze",)}
    at_224 = build_model(name, 224, len(classes), options)
    stats_before["flops_224"] = count_flops(at_224)["flops"]
    stats_after["flops_224"] = count_flops(P.prune(at_224, keep))["flops"]
    exact_after, _ = measure(pruned, names, x[idx])
    channels_after = sum(len(a) for a in exact_after.values())
    dead_after = sum(int(np.sum(a >= 1.0)) for a in exact_after.values())
    metrics: dict[str, Any] = {
        "model": name,
        "apoz_threshold": cfg["apoz_threshold"],
        "min_channels": cfg["min_channels"],
        "finetune_epochs": cfg["finetune_epochs"],
        "samples": len(idx),
        "channels_before": sum(v["channels_before"] for v in per_conv.values()),
        "channels_after": sum(v["channels_after"] for v in per_conv.values()),
        "channels_removed": sum(len(v["removed"]) for v in per_conv.values()),
        **{f"{k}_before": v for k, v in stats_before.items()},
        **{f"{k}_after": v for k, v in stats_after.items()},
        "params_ratio": stats_before["params"] / stats_after["params"],
        "flops_ratio": stats_before["flops"] / stats_after["flops"],
        "dead_fraction_after": dead_after / channels_after if channels_after else 0.0,
        "max_abs_output_diff": diff_sample,  # on the APoZ sample: <= 1e-5 with threshold 1.0
        "max_abs_output_diff_val": float(np.max(np.abs(after_val - before_val))),  # on the whole val split
        "val_accuracy_before": float(np.mean(before_val.argmax(-1) == y)),
        "val_accuracy_after": float(np.mean(after_val.argmax(-1) == y)),
        "layers": per_conv,
        "feature_layers": per_feature,
    }
    if cfg["finetune_epochs"]:
        from .train import train

        options = params["models"][name]
        metrics["finetune"] = train(
            pruned, load_split(args.split_dir, "train"), (x, y), num_classes=len(classes), epochs=cfg["finetune_epochs"],
            batch_size=t["batch_size"], patience=t["patience"], learning_rate=options.get("learning_rate", t["learning_rate"]),
            seed=seed, input_path=t["input_path"], jit_compile=t["jit_compile"], steps_per_execution=t["steps_per_execution"],
        )
        metrics["val_accuracy_finetuned"] = float(np.mean(predict_padded(pruned, x, batch).argmax(-1) == y))

    runtime.save_model(pruned, args.out or Path("models") / f"{name}_pruned.keras")
    write_json(args.metrics or Path("metrics/prune") / f"{name}.json", metrics)
    exact_note = "" if cfg["apoz_threshold"] < 1 or diff_sample <= TOLERANCE else "  WARNING: outputs changed"
    print(f"prune {name}: {metrics['channels_removed']} of {metrics['channels_before']} channels removed, "
          f"params {stats_before['params']:,} -> {stats_after['params']:,}, FLOPs x{1 / metrics['flops_ratio']:.3f}, "
          f"max output change {diff_sample:.2e}{exact_note}")
