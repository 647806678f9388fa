"""The one error class users can cause; the CLI prints it as one line, never a traceback."""


class DogbreedError(Exception):
    """A problem the user can fix (bad input, missing files, AWS credentials...).

    exit_code 1 = the operation failed, 2 = the request itself was invalid (usage).
    """

    def __init__(self, message: str, exit_code: int = 1, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"
