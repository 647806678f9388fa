"""DogbreedError, the one error class users can cause (printed as one line), and RequestError (HTTP 4xx/5xx of local servers)."""


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


class RequestError(Exception):
    """A request a local server rejects: HTTP status + message (answered as JSON, never a crash).

    lambda_src/handler.py keeps its own copy: the Lambda zip runs alone, without ops.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message
