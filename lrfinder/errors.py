"""Errors that reach the user with a message naming what is wrong and how to fix it."""


class DataError(ValueError):
    """Input data or a data parameter is unusable; the message says where and how to fix it."""


class TransientDownloadError(RuntimeError):
    """A download failed in a way that may succeed on a retry (network error, HTTP 5xx/429)."""


class SettingsError(ValueError):
    """A run's settings are invalid; the message names each setting, its flag and the fix."""
