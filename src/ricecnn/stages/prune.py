"""Stage prune@<model>: remove the channels APoZ calls dead, physically, and check what changed.

Reads the trained model and the zero counts its featuremaps stage recorded over a validation
sample (``ricecnn.apoz``), removes every conv channel with APoZ >= prune.apoz_threshold (each conv
keeps at least prune.min_channels, those with the lowest APoZ; ``ricecnn.surgery``), optionally
fine-tunes the result for prune.finetune_epochs with the training loop, and writes the pruned
model plus its metrics: channels per layer before and after (and whether the layer trains or is
frozen), parameters and FLOPs, and the largest change of the model's outputs on the sample, on the
whole validation split, and on the clean and the augmented test sets. With threshold 1.0 the
outputs are unchanged on the sample, and only there is that guaranteed (float round-off only):
on other images a removed channel might have woken up, and the other figures show whether it did.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import runtime, settings
from ..cli import parse
from ..data import load_classes, load_split
from ..errors import RiceError
from ..io import read_json, write_json

TOLERANCE = 1e-5  # the promised output difference on the sample with apoz_threshold 1.0 and no fine-tuning


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "prune", __doc__, "model-file", "featuremaps", "split-dir", "out", "metrics", model=True)
    name = args.model
    s = settings.load(args.params)
    cfg, t = s.prune, s.train
    s.entry(name)  # the model must have its settings
    recorded = read_json(args.featuremaps)
    if recorded.get("model") != name:
        raise RiceError(f"{args.featuremaps} holds the feature maps of {recorded.get('model')!r}, not {name!r}")
    classes = load_classes(args.split_dir)
    x, y = load_split(args.split_dir, "val")

    runtime.select_backend(t.backend)
    runtime.configure(s.seed, t.mixed_precision and cfg.finetune_epochs > 0)
    from .. import apoz, surgery
    from ..augment import augment
    from ..flops import describe
    from ..models import PAPER_SIZE, feature_layers
    from ..predict import predict

    model = runtime.load_model(args.model_file, f"train@{name}", x.shape[1:], len(classes))
    apoz.check_record(recorded, runtime.weights_digest(model), args.featuremaps, len(y))
    names = feature_layers(model)
    measured = apoz.exact(recorded["layers"])
    missing = [n for n in names if n not in measured]
    if missing:
        raise RiceError(f"{args.featuremaps} has no counts for layer {missing[0]!r} of {name}: "
                        f"rerun `dvc repro featuremaps@{name}`")
    idx = np.asarray(recorded["sample"]["indices"], dtype=np.int64)
    keep = surgery.plan(model, {n: measured[n] for n in names}, cfg.apoz_threshold, cfg.min_channels)
    pruned = surgery.prune(model, keep, name=f"{model.name}_pruned")

    # outputs before and after: on the APoZ sample (where equality is promised), the whole val
    # split, and the clean and augmented test sets (where it is not)
    diff_sample = float(np.max(np.abs(predict(pruned, x[idx], apoz.BATCH) - predict(model, x[idx], apoz.BATCH))))
    batch = s.evaluate.batch_size
    before_val, after_val = predict(model, x, batch), predict(pruned, x, batch)
    test, test_y = load_split(args.split_dir, "test")
    changes = {}
    for which, images in (("test_clean", test), ("test_augmented", augment(test, s.seed, batch))):
        before, after = predict(model, images, batch), predict(pruned, images, batch)
        changes[f"max_abs_output_diff_{which}"] = float(np.max(np.abs(after - before)))
        changes[f"predictions_changed_{which}"] = int(np.sum(after.argmax(-1) != before.argmax(-1)))
    per_conv = surgery.summary(model, keep)
    per_feature = {}
    for layer in names:
        parts = surgery.feature_convs(model, layer)
        per_feature[layer] = {"channels_before": sum(per_conv[c]["channels_before"] for c, _, _ in parts),
                              "channels_after": sum(per_conv[c]["channels_after"] for c, _, _ in parts),
                              "dead_channels": recorded["layers"][layer]["dead_channels"],
                              "trainable": all(model.get_layer(c).trainable for c, _, _ in parts)}
    dead = {trains: sum(v["dead_channels"] for v in per_feature.values() if v["trainable"] == trains)
            for trains in (True, False)}
    stats_before, stats_after = describe(model, PAPER_SIZE), describe(pruned, PAPER_SIZE)
    after = apoz.report(apoz.zero_counts(pruned, names, x[idx]))
    metrics: dict[str, Any] = {
        "model": name,
        "apoz_threshold": cfg.apoz_threshold,
        "min_channels": cfg.min_channels,
        "finetune_epochs": cfg.finetune_epochs,
        "samples": len(idx),
        "channels_before": sum(v["channels_before"] for v in per_conv.values()),
        "channels_after": sum(v["channels_after"] for v in per_conv.values()),
        "channels_removed": sum(len(v["removed"]) for v in per_conv.values()),
        **{f"{k}_before": v for k, v in stats_before.items() if k != "img_size"},
        **{f"{k}_after": v for k, v in stats_after.items() if k != "img_size"},
        "params_ratio": stats_before["params"] / stats_after["params"],
        "flops_ratio": stats_before["flops"] / stats_after["flops"],
        "dead_fraction_after": after["dead_fraction"],
        "max_abs_output_diff": diff_sample,  # on the APoZ sample: <= 1e-5 with threshold 1.0
        "max_abs_output_diff_val": float(np.max(np.abs(after_val - before_val))),  # on the whole val split
        **changes,  # on the test sets: what a removed channel does on images it was not measured on
        "dead_channels_trained_layers": dead[True],
        "dead_channels_frozen_layers": dead[False],
        "val_accuracy_before": float(np.mean(before_val.argmax(-1) == y)),
        "val_accuracy_after": float(np.mean(after_val.argmax(-1) == y)),
        "layers": per_conv,
        "feature_layers": per_feature,
    }
    if cfg.finetune_epochs:
        from ..training import fit

        metrics["finetune"] = fit(
            pruned, load_split(args.split_dir, "train"), (x, y), num_classes=len(classes), epochs=cfg.finetune_epochs,
            batch_size=t.batch_size, patience=t.patience, learning_rate=s.learning_rate(name), seed=s.seed,
            input_path=t.input_path, jit_compile=t.jit_compile, steps_per_execution=t.steps_per_execution,
        )
        metrics["val_accuracy_finetuned"] = float(np.mean(predict(pruned, x, batch).argmax(-1) == y))

    runtime.save_model(pruned, args.out)
    write_json(args.metrics, metrics)
    exact_note = "" if cfg.apoz_threshold < 1 or diff_sample <= TOLERANCE else "  WARNING: outputs changed"
    print(f"prune {name}: {metrics['channels_removed']} of {metrics['channels_before']} channels removed, "
          f"params {stats_before['params']:,} -> {stats_after['params']:,}, FLOPs x{1 / metrics['flops_ratio']:.3f}, "
          f"max output change {diff_sample:.2e}{exact_note}")
