"""Argument parsing shared by the command-line tools."""

from __future__ import annotations


def checked(convert, accept):
    """A parser of text: ``convert`` it, then require ``accept(value)``; ValueError otherwise
    (NaN fails every comparison, so it is refused wherever a bound is asked for)."""

    def parse(text: str):
        value = convert(text)
        if not accept(value):
            raise ValueError(f"{text!r} is out of range")
        return value

    return parse
