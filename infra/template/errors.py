"""The one exception type that `load_template` lets escape for bad input."""


class TemplateError(Exception):
    """A template that cannot be run by the local runtime: the message names the construct and where it is."""


class UnsupportedConstruct(TemplateError):
    """Valid SAM that the local runtime cannot run (an SQS event, an inline function, ...). The
    loader lists these instead of failing (`SamTemplate.unsupported`); `surge local up` refuses them
    unless told to skip them."""

    def __init__(self, construct: str, where: str, skipped: str) -> None:
        super().__init__(f"{construct} is not supported by the local runtime (at {where})")
        self.construct = construct
        self.where = where
        self.skipped = skipped  # what running without it leaves out, e.g. "function Fn" / "event Fn.Queue"
