"""Business rules as plain functions: they validate, change and flush, but never commit."""


class ServiceError(Exception):
    """A rule refused an action. `message` is German and shown to the user as is."""

    status_code = 422

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class NotAllowed(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    status_code = 409
