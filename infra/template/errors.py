"""The one exception type that `load_template` lets escape for bad input."""


class TemplateError(Exception):
    """A template that cannot be run by the local runtime: the message names the construct and where it is."""
