"""Smoke runs of bench/bench_solve.py: both modes run end to end on a CPU at toy sizes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_solve.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_solve", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_mode_compares_engine_and_plain_generate(tmp_path, capsys):
    ratio = load_bench().cpu_engine_overhead(tmp_path, tokens=16, reps=1)
    assert ratio > 0
    table = capsys.readouterr().out
    for row in ("plain model.generate, main thread", "plain model.generate, worker thread", "solve engine",
                "engine cost"):
        assert row in table


def test_gpu_mode_code_path_runs_at_toy_size(tmp_path, capsys):
    figures = load_bench().gpu_fast_path(tmp_path, tokens=8, reps=1, tiny=True, bandwidth_tbs=4.8,
                                         compile_backend="eager", prompt_tokens=64, batch=4)
    assert figures["speedup"] > 0 and figures["batch_gain"] > 0
    table = capsys.readouterr().out
    for row in ("eager, k=1", "eager, k=4", "static cache + compile, k=1", "static cache + compile, k=4",
                "bandwidth limit, k=1", "bandwidth limit, k=4", "k=4 / k=1 throughput", "-token prompt"):
        assert row in table
