"""What a version is asked, and with which sampling settings: VibeThinker's own protocol by default.

- Math: the question followed by "Let's think step by step and output the final answer within \\boxed{}."
  (the suffix of VibeThinker's AIME/HMMT evaluation prompts).
- Code: LiveCodeBench's generic prompt (its system message and question template), all in one user turn,
  as VibeThinker's code evaluation does.
- No system message: the tokenizer's chat template does the rest.
- Sampling: temperature 0.6, top_p 0.95, top_k disabled, up to 40,960 new tokens (VibeThinker's README).
- Thinking budget (off by default): after N thinking tokens without ``</think>``, the engine closes the
  thinking itself (budget forcing, as in s1 and Qwen3's thinking budget) with ``BUDGET_FORCED_TEXT`` and lets
  the model answer within ``answer_max_tokens``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from vibedash.solve.errors import SolveInputError
from vibedash.solve.problems import Kind

MATH_INSTRUCTION = "Let's think step by step and output the final answer within \\boxed{}."
CODE_SYSTEM_MESSAGE = ("You are an expert Python programmer. You will be given a question (problem specification) "
                       "and will generate a correct Python program that matches the specification and passes "
                       "all tests.")
CODE_FORMAT_INSTRUCTION = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not "
                           "directly test on the sample inputs). Enclose your code within delimiters as follows. "
                           "Ensure that when the python program runs, it reads the inputs, runs the algorithm and "
                           "writes output to STDOUT.")

VIBETHINKER_MAX_NEW_TOKENS = 40_960
MAX_SAMPLES = 64
THINK_START, THINK_END = "<think>", "</think>"
# Budget forcing closes the thinking with the end-of-thinking marker and a short cue to answer now. The text
# starts with the marker itself, so the tokens before it are exactly the thinking the model did.
BUDGET_ANSWER_CUE = "\n\n**Final Answer**\n"  # s1's cue after a forced end of thinking
BUDGET_FORCED_TEXT = THINK_END + BUDGET_ANSWER_CUE
DEFAULT_ANSWER_MAX_TOKENS = 2048  # the answer's own cap once a budget closed (or the model closed) the thinking


def build_prompt(kind: Kind, question: str) -> str:
    """The user message for a question of this kind."""
    question = question.strip()
    if kind == "math":
        if "\\boxed" in question:  # the question already says how to answer
            return question
        return f"{question}\n{MATH_INSTRUCTION}"
    return (f"{CODE_SYSTEM_MESSAGE}\n\n### Question:\n{question}\n\n### Format: {CODE_FORMAT_INSTRUCTION}\n"
            "```python\n# YOUR CODE HERE\n```\n\n### Answer: (use the provided format with backticks)\n\n")


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """One user turn, no system message (VibeThinker's usage and evaluation)."""
    return [{"role": "user", "content": prompt}]


class SettingsError(SolveInputError):
    """A sampling setting is out of range; the message says which and what is allowed."""


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 0.6  # 0 means greedy decoding
    top_p: float = 0.95
    top_k: int | None = None  # None: disabled (vLLM writes -1 for that; Hugging Face rejects -1)
    max_new_tokens: int = VIBETHINKER_MAX_NEW_TOKENS
    seed: int = 0  # every run is seeded, so an identical request gives an identical answer
    samples: int = 1  # k > 1: self-consistency vote over k samples drawn in one batch
    # Budget forcing: None = no budget (the default); N = at most N thinking tokens per sample, then
    # ``</think>`` and a cue are appended and the answer gets at most ``answer_max_tokens`` more tokens
    # (``DEFAULT_ANSWER_MAX_TOKENS`` when None). ``max_new_tokens`` stays the cap on everything.
    thinking_budget: int | None = None
    answer_max_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.top_k is not None and self.top_k <= 0:
            object.__setattr__(self, "top_k", None)  # 0 and -1 both mean "disabled" in the wild
        if not 0 <= self.temperature <= 5:
            raise SettingsError(f"temperature {self.temperature} is out of range: use 0 (greedy) to 5")
        if not 0 < self.top_p <= 1:
            raise SettingsError(f"top_p {self.top_p} is out of range: use a value in (0, 1]")
        if self.max_new_tokens < 1:
            raise SettingsError(f"max new tokens {self.max_new_tokens} must be at least 1")
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise SettingsError(f"samples (k) {self.samples} is out of range: use 1 to {MAX_SAMPLES}")
        if self.seed < 0:
            raise SettingsError(f"seed {self.seed} must be zero or positive")
        if self.thinking_budget is not None and self.thinking_budget < 0:
            raise SettingsError(f"thinking budget {self.thinking_budget} must be zero or more tokens "
                                "(leave it unset for no budget)")
        if self.answer_max_tokens is not None and self.answer_max_tokens < 1:
            raise SettingsError(f"answer cap {self.answer_max_tokens} must be at least 1 token")

    @property
    def answer_cap(self) -> int | None:
        """Tokens the answer may take after the thinking closed; None without a budget (only the total cap)."""
        if self.thinking_budget is None and self.answer_max_tokens is None:
            return None
        return self.answer_max_tokens or DEFAULT_ANSWER_MAX_TOKENS

    @property
    def generation_cap(self) -> int:
        """Tokens a sample may take in all: the total cap, lowered to what the budget and the answer cap allow."""
        if self.thinking_budget is None:
            return self.max_new_tokens
        forced_allowance = 64  # the forced marker and cue, whatever the tokenizer makes of them
        return min(self.max_new_tokens, self.thinking_budget + forced_allowance + (self.answer_cap or 0))

    @property
    def mode(self) -> str:
        return "vote" if self.samples > 1 else "single"

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def with_(self, **changes: Any) -> SamplingSettings:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def key_dict(self) -> dict[str, Any]:
        """The settings as they enter a cache key: the budget fields only when set, so runs logged before the
        budget existed keep their keys (and stay reusable)."""
        data = asdict(self)
        for name in ("thinking_budget", "answer_max_tokens"):
            if data[name] is None:
                del data[name]
        return data
