"""Counts in sentences for people: ``1 task``, ``3 tasks``."""

from __future__ import annotations


def counted(number: int, noun: str) -> str:
    """``number`` and ``noun``, plural (with an ``s``) unless ``number`` is 1."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
