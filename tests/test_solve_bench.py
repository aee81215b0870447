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
                                         prompt_tokens=64, batches=(4,))
    assert figures["speedup"] > 0 and figures["batch_gain"] > 0
    table = capsys.readouterr().out
    for row in ("generate (eager), k=1", "generate (eager), k=4", "static loop (CPU: no graphs), k=1",
                "static loop (CPU: no graphs), k=4", "bandwidth limit, k=1", "bandwidth limit, k=4",
                "k=4 / k=1 throughput", "-token prompt", "static loop / eager, k=4"):
        assert row in table


def test_bandwidth_limit_of_a_vibethinker_sized_model():
    """3.09 GB of bf16 weights (1.54 B parameters) at 4.8 TB/s: about 1,550 tokens/s for one stream."""
    limits = load_bench().bandwidth_limits(int(1.544e9 * 2), 28 * 1024 * 2000, [16], 4.8)
    assert round(limits[1][0]) == 1554 and limits[16][0] == 16 * limits[1][0]
    assert limits[16][1] < limits[16][0]  # the KV cache reads lower it


def test_the_toy_command_line_runs(capsys):
    assert load_bench().main(["--gpu", "--toy", "--tokens", "6", "--threads", "1"]) == 0
    assert "static loop (CPU: no graphs), k=4" in capsys.readouterr().out
