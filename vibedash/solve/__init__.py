"""Live solve: put one question to one or two versions, stream their answers, grade, log and cache them.

Modules (none of them imports streamlit; torch and transformers load only with ``local``):
- ``engine``: SolveEngine, SolveRequest and the streamed events (start here);
- ``generation``: what a backend takes and gives (GenerationJob, text events, GenerationOutcome);
- ``local``: the transformers backend, with ``local_models`` (device choice, loading, the fast path's worker
  thread), ``local_hooks`` (seeded sampling, streaming, budget forcing, caps, Stop, turns: run every step),
  ``static_decode`` (the fast path: static KV cache, prefill once, a CUDA graph replayed per step) and
  ``model_cache`` (loaded models within a memory budget);
- ``openai_compat``: the OpenAI-compatible HTTP backend (vLLM, SGLang) for ``openai:`` model references;
- ``prompts``: VibeThinker's prompt format, sampling defaults and the thinking budget's settings;
- ``thinking``: thinking vs answer per sample (tokens, first answer token, caps), fed by both backends;
- ``pacing``: Lockstep, the turn-taking that gives two versions side by side fair shares of the machine;
- ``gpu_monitor``: GPU utilisation, memory, power and energy through NVML (optional);
- ``latency``: P50/P95/P99 per version over its solve runs, eval samples and imported samples (apart);
- ``problems``: the built-in problem set and JSONL imports;
- ``answers``, ``mathcheck``, ``grading``, ``sandbox``: answer extraction, math equivalence in a worker
  process, and code run against tests in a locked-down process;
- ``runlog``: the ``solve_run`` table as log and cache; ``versions``: commit prefix to version;
- ``command``: the ``python -m vibedash solve`` subcommand; ``errors``: what can go wrong, in words.
"""
