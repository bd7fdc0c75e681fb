"""One exception type for problems the user can fix (bad input, bad settings).

Stage CLIs catch it and print one line on stderr instead of a traceback.
"""


class RiceError(Exception):
    """A user-facing error: the message says what is wrong, where, and how to fix it."""
