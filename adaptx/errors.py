"""The one exception type adaptx raises for bad input: the CLI prints its message, not a traceback."""


class AdaptxError(Exception):
    """A problem the user can fix: the message names the file, key or value and what was expected."""
