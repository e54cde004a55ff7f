"""The user's mistakes: one family the CLI turns into one sentence; anything else is a bug and shows its traceback."""


class DenoscopeError(Exception):
    """Something the user gave is wrong; the message names it and says what was expected."""


class ConfigError(DenoscopeError, ValueError):
    """An option or configuration value outside what it may be."""


class DataError(DenoscopeError, ValueError):
    """Bad input data; the message names the file and what was expected."""


class CheckpointError(DenoscopeError, ValueError):
    """A checkpoint that is missing, unreadable or does not fit what it is asked to be."""


class Note(UserWarning):
    """Something done on the user's behalf that they should know of (the CLI prints it as a note)."""


class OutputError(DenoscopeError, OSError):
    """An output location that cannot be written."""
