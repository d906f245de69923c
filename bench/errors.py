"""User-facing errors: one line of text, printed by the CLI without a traceback."""


class BenchError(Exception):
    """A problem with the user's input or data; ``str(err)`` is the whole message."""

    exit_code = 2


class UnknownChoice(BenchError):
    def __init__(self, kind: str, value: str, valid: list[str] | tuple[str, ...]) -> None:
        super().__init__(f"unknown {kind} {value!r}; valid choices: {', '.join(valid)}")
