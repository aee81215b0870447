"""GPU figures during a run, through NVML (``nvidia-ml-py``, an optional dependency): utilisation, memory
and power sampled on a background thread, and the energy the run took.

Energy comes from the GPU's own energy counter (``nvmlDeviceGetTotalEnergyConsumption``, Volta and newer)
where it has one, else from the power samples integrated over time. The figures are the whole GPU's: when
two versions share one GPU, each run's energy includes the other's work over the same seconds.

Without NVML (no package, no driver, no GPU) :func:`open_monitor` returns None and the run goes on without
GPU figures; the panel then says there is no GPU.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vibedash.solve.generation import GpuReading

log = logging.getLogger(__name__)

_nvml: Any = None
_nvml_lock = threading.Lock()
_nvml_state: bool | None = None  # None: not tried; False: unavailable


def _load_nvml() -> Any:
    """The initialised pynvml module, or None (tried once per process)."""
    global _nvml, _nvml_state
    with _nvml_lock:
        if _nvml_state is None:
            try:
                import pynvml  # nvidia-ml-py

                pynvml.nvmlInit()
                _nvml, _nvml_state = pynvml, True
            except Exception as exc:  # no package, no driver, no device: all mean "no GPU figures"
                log.debug("NVML unavailable: %s", exc)
                _nvml_state = False
        return _nvml if _nvml_state else None


def nvml_available() -> bool:
    return _load_nvml() is not None


@dataclass(frozen=True)
class GpuSummary:
    energy_j: float | None
    utilisation_pct: float | None  # mean
    memory_mb: float | None  # peak
    power_w: float | None  # mean
    samples: int


class GpuMonitor:
    """Samples one GPU every ``interval_s`` between :meth:`start` and :meth:`stop`; ``on_reading`` gets each
    sample (the engine forwards them to the panel)."""

    def __init__(self, nvml: Any, index: int = 0, interval_s: float = 0.5,
                 on_reading: Callable[[GpuReading], None] | None = None) -> None:
        self._nvml = nvml
        self._handle = nvml.nvmlDeviceGetHandleByIndex(index)
        self._interval = interval_s
        self._on_reading = on_reading
        self._readings: list[tuple[float, GpuReading]] = []
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._energy_start_mj: float | None = None
        self._energy_j: float | None = None

    def read(self) -> GpuReading:
        nvml, handle = self._nvml, self._handle
        utilisation = nvml.nvmlDeviceGetUtilizationRates(handle)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        try:
            power = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0  # milliwatts
        except Exception:  # some boards do not report power
            power = None
        return GpuReading(utilisation_pct=float(utilisation.gpu), memory_used_mb=memory.used / 2**20,
                          memory_total_mb=memory.total / 2**20, power_w=power)

    def _energy_mj(self) -> float | None:
        try:
            return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except Exception:  # older GPUs have no energy counter
            return None

    def start(self) -> GpuMonitor:
        self._energy_start_mj = self._energy_mj()
        self._thread = threading.Thread(target=self._loop, name="vibedash-gpu-monitor", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while True:
            try:
                reading = self.read()
            except Exception as exc:
                log.debug("NVML read failed: %s", exc)
                return
            self._readings.append((time.monotonic(), reading))
            if self._on_reading is not None:
                self._on_reading(reading)
            if self._halt.wait(self._interval):
                return

    def stop(self) -> GpuSummary:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        end = self._energy_mj()
        energy = (end - self._energy_start_mj) / 1000.0 if end is not None and self._energy_start_mj is not None \
            else self._integrated_energy_j()
        readings = [reading for _, reading in self._readings]
        powers = [r.power_w for r in readings if r.power_w is not None]
        return GpuSummary(
            energy_j=energy,
            utilisation_pct=sum(r.utilisation_pct for r in readings) / len(readings) if readings else None,
            memory_mb=max((r.memory_used_mb for r in readings), default=None),
            power_w=sum(powers) / len(powers) if powers else None, samples=len(readings))

    def _integrated_energy_j(self) -> float | None:
        points = [(at, reading.power_w) for at, reading in self._readings if reading.power_w is not None]
        if len(points) < 2:
            return None
        return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(points, points[1:]))


def open_monitor(device: str, on_reading: Callable[[GpuReading], None] | None = None,
                 interval_s: float = 0.5) -> GpuMonitor | None:
    """A started monitor for a CUDA device ("cuda:0"), or None on a CPU or without NVML."""
    if not device.startswith("cuda"):
        return None
    nvml = _load_nvml()
    if nvml is None:
        return None
    index = int(device.partition(":")[2] or 0)
    try:
        return GpuMonitor(nvml, index, interval_s, on_reading).start()
    except Exception as exc:
        log.debug("NVML could not watch %s: %s", device, exc)
        return None
