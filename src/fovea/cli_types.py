"""Argument parsing shared by the command-line tools."""

from __future__ import annotations

import argparse


def checked(convert, accept):
    """A parser of text: ``convert`` it, then require ``accept(value)``; ValueError otherwise
    (NaN fails every comparison, so it is refused wherever a bound is asked for)."""

    def parse(text: str):
        value = convert(text)
        if not accept(value):
            raise ValueError(f"{text!r} is out of range")
        return value

    return parse


def argparse_number(convert, accept, expected: str):
    """An argparse ``type``: :func:`checked`, with argparse's one-line error on bad input."""
    parse_checked = checked(convert, accept)

    def parse(text: str):
        try:
            return parse_checked(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None

    parse.__name__ = expected
    return parse


positive_int = argparse_number(int, lambda v: v > 0, "a positive integer")
