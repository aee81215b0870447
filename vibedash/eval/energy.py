"""Energy of a run, where the GPU can say: NVIDIA's total-energy counter (NVML, millijoules since the driver
loaded) read at the start and on each update, summed over the visible GPUs. No NVML (CPU, other vendors, no
``pynvml``): no figure, and joules per correct answer is left out rather than guessed."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class EnergyMeter:
    def __init__(self, handles: list, start_mj: list[int], nvml) -> None:
        self._handles, self._start, self._nvml = handles, start_mj, nvml

    @property
    def available(self) -> bool:
        return bool(self._handles)

    @classmethod
    def start(cls) -> EnergyMeter:
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            start = [pynvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in handles]
            return cls(handles, start, pynvml)
        except Exception as exc:  # not installed, no driver, a GPU without the counter
            log.debug("no GPU energy counter: %s", exc)
            return cls([], [], None)

    def joules(self, previous: float | None = None) -> float | None:
        """Joules since :meth:`start` (plus ``previous``, the energy of earlier sessions of a resumed run)."""
        if not self._handles:
            return None
        try:
            now = [self._nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles]
        except Exception:
            return None
        return (previous or 0.0) + sum(n - s for n, s in zip(now, self._start)) / 1000.0
