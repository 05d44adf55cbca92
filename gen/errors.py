"""User-facing errors.

Every mistake a user can make on the command line or in a preset file (bad preset name, unknown
field, wrong type, out-of-range value, malformed input file) raises :class:`UserError`. The CLI
prints it as one line, ``hybridgen: error: <message>``, and exits with status 2; no traceback,
and no output file is left behind.
"""

import argparse

__all__ = ["UserError", "ConfigError", "ArgumentParser"]


class UserError(Exception):
    """An error in user input. ``str(err)`` is a single line meant for the user."""


class ConfigError(UserError):
    """A configuration field has a bad value.

    Parameters
    ----------
    field : str
        Dotted path of the field (``memory.data_width``), or a preset/CLI option name.
    message : str
        What is allowed and what was given, e.g. ``"must be one of 'int8', 'bf16', not 'fp8'"``.
    """

    def __init__(self, field, message):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors raise :class:`UserError` (one line, exit status 2 at the caller)
    instead of printing the usage and exiting."""

    def error(self, message):
        raise UserError(message)
