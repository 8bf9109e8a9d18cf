"""Parsing text into checked values: the validator shared by the training options, the filter
specifications and the command line's number arguments."""

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
