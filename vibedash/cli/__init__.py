"""`python -m vibedash ...`: the parser and the verbs, importing the domain downward only."""

from vibedash.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
