"""The local backend's models: which device and path a run takes, checkpoints loaded with transformers, and
the long-lived thread a fast-path model generates on.

The GPU fast path (static KV cache, CUDA graphs; see :mod:`vibedash.solve.static_decode`) runs every generation
of a model on one long-lived thread (:class:`ModelWorker`): captured CUDA graphs belong to the thread that
captured them, and replaying them from another thread fails or corrupts output (pytorch/pytorch#123177). CPU
runs eagerly, on the caller's thread, so two versions can generate at the same time.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from vibedash.solve.errors import GenerationError, ModelLoadError, SolveConfigError

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cuda", "cpu")
T = TypeVar("T")
# transformers' from_pretrained is not thread-safe: it skips weight initialisation through process-wide
# switches, and two loads on two threads left a tied lm_head uninitialised (NaN logits). Loads are
# serialised; generation is not.
_FROM_PRETRAINED_LOCK = threading.Lock()


# -- device ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cpu" or "cuda:0"
    dtype: torch.dtype
    fast_path: bool  # the static-cache decode loop, every generation of a model on its own long-lived thread
    graphs: bool  # each decode step captured once as a CUDA graph and replayed (with the fast path, on CUDA)

    @property
    def label(self) -> str:
        mode = " static cache + CUDA graphs" if self.graphs else " static cache" if self.fast_path else ""
        return f"{self.device} {str(self.dtype).removeprefix('torch.')}{mode}"


def choose_device(setting: str = "auto") -> DevicePlan:
    """CUDA with bf16 (fp16 where bf16 is missing) when present, else CPU in float32."""
    setting = (setting or "auto").strip().lower()
    if setting not in DEVICE_CHOICES:
        raise SolveConfigError(f"VIBEDASH_SOLVE_DEVICE={setting!r} is not one of {', '.join(DEVICE_CHOICES)}")
    has_cuda = torch.cuda.is_available()
    if setting == "cuda" and not has_cuda:
        raise SolveConfigError("VIBEDASH_SOLVE_DEVICE is cuda but torch sees no CUDA device (CPU-only torch build "
                               "or no driver): install a CUDA build of torch or set it to auto or cpu")
    if setting == "cpu" or not has_cuda:
        return DevicePlan("cpu", torch.float32, fast_path=False, graphs=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return DevicePlan("cuda:0", dtype, fast_path=True, graphs=True)


# -- loaded models -----------------------------------------------------------------------------------------

class ModelWorker:
    """One long-lived thread that runs every job for one model, in order. Jobs queued before :meth:`close`
    still run; :meth:`run` after it raises GenerationError."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[[], Any]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"vibedash-model-{name}", daemon=True)
        self._thread.start()

    def run(self, job: Callable[[], T]) -> T:
        """Run ``job`` on the worker thread and wait for it; its exception is raised here."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise GenerationError("the model was unloaded to make room for another one: run it again")
            self._jobs.put((future, job))
        return future.result()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._jobs.put(None)

    def _loop(self) -> None:
        while (item := self._jobs.get()) is not None:
            future, job = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as exc:  # handed to the waiting caller
                    future.set_exception(exc)


@dataclass
class LoadedModel:
    model_ref: str
    model: PreTrainedModel
    tokenizer: Any
    plan: DevicePlan
    nbytes: int
    eos_token_ids: frozenset[int]
    pad_token_id: int
    worker: ModelWorker | None = None  # the fast path's dedicated thread
    decoder: Any = None  # the fast path's last StaticDecoder (cache and captured graphs), reused when shapes fit

    def close(self) -> None:
        """Called on eviction. Generations already running keep their reference to the model; its memory is
        freed when the last of them ends."""
        if self.worker is not None:
            self.worker.close()
        self.decoder = None
        if self.plan.device.startswith("cuda"):
            torch.cuda.empty_cache()


def _looks_like_path(model_ref: str) -> bool:
    return model_ref.startswith(("/", "./", "../", "~")) or Path(model_ref).expanduser().exists()


def load_model(model_ref: str, plan: DevicePlan) -> LoadedModel:
    """Load tokenizer and model from a local folder or the Hugging Face cache / hub."""
    if _looks_like_path(model_ref) and not Path(model_ref).expanduser().is_dir():
        raise ModelLoadError(model_ref, "no such folder")
    source = str(Path(model_ref).expanduser()) if _looks_like_path(model_ref) else model_ref
    try:
        with _FROM_PRETRAINED_LOCK:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=plan.dtype, device_map=plan.device if plan.device != "cpu" else None)
    except OSError as exc:  # not found locally, not in the cache, hub unreachable or offline
        raise ModelLoadError(model_ref, _first_line(exc)) from exc
    except Exception as exc:  # a checkpoint that exists but is broken (config, weights, architecture)
        raise ModelLoadError(model_ref, f"{type(exc).__name__}: {_first_line(exc)}", missing=False) from exc
    model.eval()
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(tokenizer.eos_token_id)
    pad = model.generation_config.pad_token_id
    if pad is None:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids, default=0)
    nbytes = model.get_memory_footprint()
    log.info("loaded %s on %s (%.2f GiB)", model_ref, plan.label, nbytes / 1024**3)
    return LoadedModel(model_ref=model_ref, model=model, tokenizer=tokenizer, plan=plan, nbytes=nbytes,
                       eos_token_ids=frozenset(eos_ids), pad_token_id=int(pad),
                       worker=ModelWorker(Path(model_ref).name or model_ref) if plan.fast_path else None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
