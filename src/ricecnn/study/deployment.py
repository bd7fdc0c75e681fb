"""The exported models (stage export): one row per model and format with its file size, batch-1
latency (bench/latency.py's record: the median of interleaved rounds, the fastest and slowest round;
not measured by the pipeline, so a model the bench has not timed has none) and accuracy, paired image by image with the Keras model it came from
(agreement, and the difference with Tango's interval, ``stats.paired``), and what the findings say
of it: whether FLOPs savings become latency savings, and what int8 costs and gains."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..deploy.formats import FORMATS, RUNTIME_NAMES
from . import stats
from .records import CONDITIONS, Study
from .words import pts

DEPLOYMENT_COLUMNS = ["model", "family", "variant", "runtime", "precision", "file", "bytes", "latency_ms", "latency_low_ms",
                      "latency_high_ms", "latency_rounds", "latency_wide", "threads", "seed", "flops", "clean_accuracy", "augmented_accuracy",
                      "clean_agreement", "augmented_agreement", "clean_diff_pp", "clean_lo_pp", "clean_hi_pp",
                      "augmented_diff_pp", "augmented_lo_pp", "augmented_hi_pp", "error"]


def with_compiled_keras(formats: dict) -> dict:
    """The export record's formats with a second Keras row, ``keras_compiled``: the same file and model,
    called compiled (bench/latency.py times both calls)."""
    out = {}
    for key, r in formats.items():
        out[key] = r
        if key == "keras":
            out["keras_compiled"] = {**r, "runtime": "keras_compiled"}
    return out


def first_run(bench: dict | None) -> dict:
    """The bench's first run, the one the tables read ({} without a bench record)."""
    return (bench or {}).get("runs", [{}])[0]


def timed(bench: dict | None, model: str, keras_md5: str | None, runtime: str, precision: str) -> dict:
    """bench/latency.py's figure for one model, runtime and precision (its first run), as table columns;
    none when the bench timed another file of that name (its .keras file's MD5 is not export's)."""
    t = first_run(bench).get("latency", {}).get(model, {}).get(f"{runtime}_{precision}")
    threads = (bench or {}).get("conditions", {}).get("threads")
    if t is None or (bench or {}).get("files", {}).get(model) != keras_md5:
        return {"threads": threads}
    return {"latency_ms": t["median_ms"], "latency_low_ms": t["low_ms"], "latency_high_ms": t["high_ms"],
            "latency_rounds": len(t["rounds_ms"]), "latency_wide": t["wide"], "threads": threads}


def deployment_table(study: Study, metrics: dict, predictions: dict[str, pd.DataFrame], df: pd.DataFrame,
                     bench: dict | None) -> pd.DataFrame:
    """``metrics``: the export stage's record (model -> its formats); ``predictions``: its per-image
    classes by model; ``df``: the summary table (the FLOPs); ``bench``: bench/latency.py's record, or
    None. Keras' own rows carry the accuracy of the export seed's Keras model (evaluate's predictions
    of the same images)."""
    cost = df.set_index("model")
    rows = []
    for m in study.models:
        record = metrics[m.name]
        seed = study.seeds.index(record["seed"])
        for key, r in with_compiled_keras(record["formats"]).items():
            row = {"model": m.name, "family": m.family, "variant": m.variant, "runtime": r["runtime"],
                   "precision": r["precision"], "file": r.get("file", ""), "bytes": r.get("bytes"),
                   **timed(bench, m.name, record.get("keras_md5"), r["runtime"], r["precision"]),
                   "seed": record["seed"], "flops": cost.loc[m.name, "flops"], "error": r.get("error", "")}
            for c in CONDITIONS:
                keras_ok, keras_class = study.correct[m.name][c][seed], study.predicted[m.name][c][seed]
                if key in ("keras", "keras_compiled"):
                    row.update({f"{c}_accuracy": float(keras_ok.mean()), f"{c}_agreement": 1.0})
                elif "error" not in r and f"{key}_{c}" in predictions[m.name]:  # export.augmented_formats: some formats clean only
                    frame = predictions[m.name]
                    got = frame[f"{key}_{c}"].to_numpy(dtype=str)
                    ok = got == frame["actual"].to_numpy(dtype=str)
                    d = stats.paired(ok, keras_ok)
                    row.update({f"{c}_accuracy": float(ok.mean()), f"{c}_agreement": float(np.mean(got == keras_class)),
                                f"{c}_diff_pp": 100 * d.diff, f"{c}_lo_pp": 100 * d.lo, f"{c}_hi_pp": 100 * d.hi})
            rows.append(row)
    return pd.DataFrame(rows, columns=DEPLOYMENT_COLUMNS)


def latency_of(table: pd.DataFrame, model: str, runtime: str, precision: str = "float32") -> float | None:
    r = table[(table.model == model) & (table.runtime == runtime) & (table.precision == precision)]
    return None if r.empty or pd.isna(r.latency_ms.iloc[0]) else float(r.latency_ms.iloc[0])


def conditions(bench: dict | None) -> str:
    """Where and how the latencies were measured, in words (bench/latency.py's record)."""
    if not bench:
        return "not measured (run bench/latency.py)"
    c, s = bench["conditions"], bench["settings"]
    isa = ", ".join(k.upper() for k, v in c["cpu_flags"].items() if v and k in ("avx2", "avx512f", "amx_tile")) or "no AVX2"
    return (f"batch 1, {c['threads']} CPU thread{'s' if c['threads'] > 1 else ''} ({c['cpu']}; {isa}), the median of "
            f"{s['rounds']} interleaved rounds of {s['repeats']} timed calls (bench/latency.py, {bench['runs'][0]['started'][:10]})")


def sentences(study: Study, table: pd.DataFrame, bench: dict | None = None) -> list[str]:
    """Per family, light over full: the latency ratio in each runtime beside the FLOPs ratio; the
    binding's own time; per format, how far the converted models stray from Keras; int8's cost and gain
    against float32."""
    if table.empty:
        return []
    out, first = [], table.iloc[0]
    where = conditions(bench)
    runtimes = [("keras", "float32"), ("keras_compiled", "float32"), *((f.runtime, f.precision) for f in FORMATS)]
    for m in (m for m in study.models if m.variant == "light" and m.baseline):
        flops = table[table.model == m.name].flops.iloc[0] / table[table.model == m.baseline].flops.iloc[0]
        ratios = []
        for runtime, precision in runtimes:
            light, full = latency_of(table, m.name, runtime, precision), latency_of(table, m.baseline, runtime, precision)
            if light is not None and full is not None:
                ratios.append(f"{RUNTIME_NAMES[runtime]} {precision} {ratio(light / full)} ({light:.3f} vs {full:.3f} ms)")
        out.append(f"Latency of {m.name} over {m.baseline}, as ratios light/full ({where}, replicate {int(first.seed)}'s models): FLOPs "
                   f"{ratio(flops)}; " + (", ".join(ratios) if ratios else "no latency measured") + ".")
    empty = first_run(bench).get("latency", {}).get("empty")
    if empty:
        out.append("Every latency includes the runtime's own cost of a call, measured on a near-empty model (global average "
                   "pooling and one dense layer): " + ", ".join(f"{RUNTIME_NAMES[k.rsplit('_', 1)[0]]} {k.rsplit('_', 1)[1]} "
                                                               f"{v['median_ms']:.3f} ms" for k, v in empty.items()) + ".")
    wide = table[table.latency_wide.astype("boolean").fillna(False)]
    if not wide.empty:
        out.append(f"{len(wide)} latencies spread over more than a quarter of their value between rounds (the machine "
                   "moved while they were measured): " + ", ".join(f"{r.model} {RUNTIME_NAMES[r.runtime]} {r.precision}"
                                                                   for r in wide.itertuples()) + ".")
    for f in FORMATS:
        g = table[(table.runtime == f.runtime) & (table.precision == f.precision) & (table.error == "")]
        if g.empty:
            continue
        augmented = g.augmented_agreement.notna().all()  # scored on the augmented set (export.augmented_formats)
        worst = g.loc[g.clean_diff_pp.abs().add(g.augmented_diff_pp.abs().fillna(0)).idxmax()]
        out.append(f"{f.label}: {len(g)} models converted; agreement with Keras' class {100 * g.clean_agreement.min():.1f}-"
                   f"{100 * g.clean_agreement.max():.1f} % of clean "
                   + (f"and {100 * g.augmented_agreement.min():.1f}-{100 * g.augmented_agreement.max():.1f} % of augmented "
                      if augmented else "") + "test images"
                   + ("" if augmented else " (not scored on the augmented set: export.augmented_formats)")
                   + f"; the largest accuracy change ({worst.model}): clean {pts(worst.clean_diff_pp, worst.clean_lo_pp, worst.clean_hi_pp)}"
                   + (f", augmented {pts(worst.augmented_diff_pp, worst.augmented_lo_pp, worst.augmented_hi_pp)}" if augmented else "")
                   + " (paired, 95 %).")
    f32 = table[(table.runtime == "litert") & (table.precision == "float32") & (table.error == "")].set_index("model")
    i8 = table[(table.runtime == "litert") & (table.precision == "int8") & (table.error == "")].set_index("model")
    both = [m for m in f32.index if m in i8.index]
    if both:
        size = [i8.loc[m, "bytes"] / f32.loc[m, "bytes"] for m in both]
        speed = [s for s in (i8.loc[m, "latency_ms"] / f32.loc[m, "latency_ms"] for m in both) if pd.notna(s)]
        cost = [100 * (i8.loc[m, "clean_accuracy"] - f32.loc[m, "clean_accuracy"]) for m in both]
        timing = f"latency {ratio(min(speed))} to {ratio(max(speed))} of the time, " if speed else ""
        out.append(f"LiteRT int8 against float32 ({len(both)} models): file {ratio(min(size))} to {ratio(max(size))} of the size, "
                   f"{timing}clean accuracy {min(cost):+.2f} to {max(cost):+.2f} "
                   "points (each model against its own float32 export, same images).")
    failed = table[table.error != ""]
    for r in failed.itertuples():
        out.append(f"{r.model} was not converted to {RUNTIME_NAMES[r.runtime]} {r.precision}: {r.error}.")
    return out


def ratio(r: float) -> str:
    """A ratio to two significant digits: 0.0071, 0.69, 1.3 (a share, so no "x" that reads as "times fewer")."""
    return f"{r:.2g}"
