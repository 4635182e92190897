"""Errors a person can act on.

`InputError` is the one exception the app turns into a message in the browser: its text must say
what was wrong and what to do. Anything else is a bug and is not hidden.
"""


class InputError(ValueError):
    """Bad input from a person: an unreadable file, an empty label list, a limit exceeded."""


class WeightsError(RuntimeError):
    """Model weights that were asked for by name or path could not be loaded."""
