"""The one way an import ends badly: a message saying why, shown to the user in the Ready condition."""


class ImportFailure(Exception):
    """The source cannot become an image (unreachable, bad checksum, not a disk image, unsafe layer …).

    The import is not retried: as on the platform, the image stays Failed until its spec changes."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
