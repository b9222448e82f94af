"""The single user-facing error type of the data layer."""


class DataError(ValueError):
    """A data problem with a one-line message that says what to fix."""
