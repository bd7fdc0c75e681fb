"""bench/gpu_train.py on the CPU: the torch twins match the Keras models, the table has numbers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_train.py"


def run_bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",  # the ricecnn workers set their own; this is for anything else
        # Cheap XLA compilation matters more than fast code for seconds-long runs.
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
        "OMP_NUM_THREADS": "1",  # torch's 2 OpenMP threads thrash on a small, busy CPU
    }
    p = subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                       cwd=ROOT, timeout=timeout)
    if p.returncode != 0:
        pytest.fail(f"gpu_train.py {' '.join(args)} exited {p.returncode}\n--- stdout\n{p.stdout[-4000:]}"
                    f"\n--- stderr\n{p.stderr[-6000:]}")
    return p


@pytest.mark.slow  # builds the six models at 224 px, twice (torch, Keras): the paper's counts are at 224 px
def test_torch_and_keras_parameter_counts_match_for_all_six(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "params.json"
    p = run_bench("--check-params-only", "--models", "all", "--out", str(out))
    counts = json.loads(out.read_text())["params"]
    assert sorted(counts) == sorted(["cnn", "cnn_light", "googlenet", "googlenet_light", "vgg16", "vgg16_light"])
    for name, c in counts.items():
        assert c["torch"] == c["keras"] == c["paper"], (name, c)
        assert c["torch_trainable"] == c["keras_trainable"], (name, c)
        assert c["match"], (name, c)
    # the paper (docs/paper.md): vgg16 has 7,344,645 trainable parameters with the seed's freezing, vgg16_light 67,077
    assert counts["vgg16"]["torch_trainable"] == 7_344_645
    assert counts["vgg16_light"]["torch_trainable"] == 67_077
    assert "MISMATCH" not in p.stderr


@pytest.mark.slow  # starts torch and JAX
def test_cpu_smoke_run_gives_a_table_row_per_model(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    out = tmp_path / "bench.json"
    models = ["cnn", "cnn_light"]  # two rows, the two cheapest models (googlenet_light's compiles took half the time)
    p = run_bench("--device", "cpu", "--size", "32", "--images", "64", "--val-images", "16", "--batch", "16",
                  "--steps", "3", "--warmup", "1", "--epochs", "2", "--models", ",".join(models),
                  "--skip-param-check", "--out", str(out))
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in p.stdout.splitlines() if line.startswith("| ") and not line.startswith("| model")}
    assert sorted(rows) == models, p.stdout
    for name, (torch_rate, ricecnn_rate, ratio, _notes) in rows.items():
        for cell in (torch_rate, ricecnn_rate, ratio):
            assert re.fullmatch(r"[\d,]+(\.\d+)?", cell) and float(cell.replace(",", "")) > 0, (name, p.stdout)
        torch_rate, ricecnn_rate, ratio = (float(c.replace(",", "")) for c in (torch_rate, ricecnn_rate, ratio))
        assert ratio == pytest.approx(ricecnn_rate / torch_rate, rel=0.05, abs=0.01), (name, p.stdout)  # the ratio of the two

    results = json.loads(out.read_text())["results"]
    for name in models:
        torch_r, jax_r = results[name]["torch_eager"], results[name]["ricecnn_jax"]
        assert torch_r["images_per_second"] > 0 and jax_r["images_per_second"] > 0
        assert jax_r["backend"] == "jax" and jax_r["train_images"] == 64
        assert len(jax_r["epoch_seconds"]) == 2
        assert not jax_r["tensorflow_imported"]  # as on a GPU box without TensorFlow
