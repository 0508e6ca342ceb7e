class StackError(Exception):
    """A service could not be installed, started or reached; the message says what to do."""
