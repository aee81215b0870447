"""Fair side by side: generations sharing the machine take turns step by step (Lockstep), each side's own
time adds up to the wall time, two local versions run through the engine in lockstep, and the pair mode of
bench/bench_solve.py runs at toy size. GPU figures: NVML sampling and energy arithmetic on a stand-in NVML
module (no GPU here), and the CPU case without one."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: tests never download

import threading
import time
from types import SimpleNamespace

import pytest
from test_solve_bench import load_bench
from test_solve_openai import add_version, registry  # noqa: F401  (fixture)
from tiny_model import save_tiny_model

from vibedash.solve.engine import Finished, SolveEngine, SolveRequest
from vibedash.solve.gpu_monitor import GpuMonitor, open_monitor
from vibedash.solve.pacing import Lockstep
from vibedash.solve.prompts import SamplingSettings


def run_seats(lockstep, steps, names, start_delays=None, step_s=0.001):
    order, inside, overlaps = [], [0], []
    seats = {}

    def work(name, delay):
        time.sleep(delay)
        seat = seats[name] = lockstep.seat(name)
        seat.acquire()
        try:
            for _ in range(steps[name]):
                inside[0] += 1
                if inside[0] > 1:
                    overlaps.append(name)
                order.append(name)
                time.sleep(step_s)
                inside[0] -= 1
                seat.step()
        finally:
            seat.leave()

    threads = [threading.Thread(target=work, args=(name, (start_delays or {}).get(name, 0.0))) for name in names]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return order, overlaps, seats, time.monotonic() - started


def test_two_seats_alternate_and_never_overlap():
    order, overlaps, seats, wall = run_seats(Lockstep(), {"a": 40, "b": 40}, "ab")
    assert not overlaps and len(order) == 80
    both_active = order[2:-2]
    assert all(x != y for x, y in zip(both_active, both_active[1:]))  # strictly a, b, a, b
    assert abs(seats["a"].busy_s - seats["b"].busy_s) < 0.5 * max(seats["a"].busy_s, seats["b"].busy_s)
    assert seats["a"].busy_s + seats["b"].busy_s <= wall + 0.01  # own times add up to at most the wall time


def test_a_late_seat_is_not_waited_for_and_a_finished_one_frees_the_other():
    order, overlaps, _, _ = run_seats(Lockstep(), {"a": 30, "b": 5}, "ab", start_delays={"b": 0.02}, step_s=0.002)
    assert not overlaps and order[:3] == ["a", "a", "a"]  # a ran alone while b was "loading"
    assert order.count("b") == 5 and order[-5:] == ["a"] * 5  # b left; a went on alone


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("pacing") / "model", seed=3, with_eos=False)


def test_two_local_versions_run_in_lockstep_through_the_engine(registry, model_dir):  # noqa: F811
    versions = {side: add_version(registry, sha * 20, str(model_dir)) for side, sha in (("a", "6a"), ("b", "6b"))}
    solver = SolveEngine(registry, device="cpu")
    seats = []
    original = Lockstep.seat

    def watched_seat(self, name=""):
        seat = original(self, name)
        seats.append(seat)
        return seat

    Lockstep.seat = watched_seat
    try:
        settings = SamplingSettings(max_new_tokens=24)
        events = list(solver.stream_many({side: SolveRequest(version=v, question="2+2?", settings=settings)
                                          for side, v in versions.items()}))
    finally:
        Lockstep.seat = original
        solver.close()
    results = {side: event.result for side, event in events if isinstance(event, Finished)}
    assert set(results) == {"a", "b"} and len(seats) == 2
    assert all(seat.steps >= 24 for seat in seats)  # every decode step took a turn
    for result in results.values():
        assert result.tokens == 24 and result.decode_tokens_per_second > 0
        assert result.load_s is not None and result.total_s >= result.time_to_first_token_s
        assert result.energy_j is None  # on a CPU: no GPU figures


def test_pair_benchmark_runs_at_toy_size(tmp_path, capsys):
    figures = load_bench().pair_fairness(tmp_path, tokens=8, reps=1)
    assert figures["single"] > 0 and figures["pair, lockstep a"] > 0 and figures["pair, lockstep b"] > 0
    table = capsys.readouterr().out
    for row in ("single run alone", "pair, lockstep: side A", "pair, lockstep: side B", "pair, free: side A",
                "A vs B", "worst side vs single"):
        assert row in table


# -- GPU figures -------------------------------------------------------------------------------------------

class StandInNvml:
    """The few NVML calls the monitor makes, answering like a busy GPU (no GPU on this machine)."""

    def __init__(self, energy_counter=True):
        self.energy_mj = 1_000_000.0
        self.energy_counter = energy_counter

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=87)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=12 * 2**30, total=141 * 2**30)

    def nvmlDeviceGetPowerUsage(self, handle):
        return 400_000  # mW

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.energy_counter:
            raise RuntimeError("not supported")
        self.energy_mj += 20_000.0  # 20 J between reads
        return self.energy_mj


def test_gpu_monitor_samples_and_measures_energy():
    readings = []
    monitor = GpuMonitor(StandInNvml(), interval_s=0.01, on_reading=readings.append).start()
    time.sleep(0.05)
    summary = monitor.stop()
    assert summary.energy_j == pytest.approx(20.0)  # from the GPU's own counter
    assert summary.utilisation_pct == 87 and summary.memory_mb == 12 * 1024 and summary.power_w == 400
    assert readings and readings[0].memory_total_mb == 141 * 1024


def test_without_an_energy_counter_power_is_integrated():
    monitor = GpuMonitor(StandInNvml(energy_counter=False), interval_s=0.01).start()
    time.sleep(0.1)
    summary = monitor.stop()
    assert summary.samples >= 3 and summary.energy_j == pytest.approx(400 * summary_span(monitor), rel=0.01)


def summary_span(monitor):
    times = [at for at, _ in monitor._readings]
    return times[-1] - times[0]


def test_no_monitor_on_a_cpu():
    assert open_monitor("cpu") is None
