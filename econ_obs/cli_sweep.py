"""`econ-obs sweep | check | report | ui`: the verbs that drive the asset graph."""

from __future__ import annotations

import argparse


def add_verbs(verbs: argparse._SubParsersAction) -> None:
    """Register the sweep-related verbs on the top-level parser."""
