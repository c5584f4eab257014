"""Domain errors. They know nothing of HTTP; http/errors.py maps each to a status."""


class GigatileError(Exception):
    """Base of every error a client may see; `code` is the stable machine-readable name."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidParameter(GigatileError):
    code = "invalid_parameter"


class InvalidImageId(GigatileError):
    code = "invalid_image_id"


class Forbidden(GigatileError):
    code = "forbidden"


class AccessDenied(GigatileError):
    """Signed access is on and the request's token is missing, wrong, or expired."""

    code = "access_denied"


class ImageNotFound(GigatileError):
    code = "image_not_found"


class TileNotFound(GigatileError):
    code = "tile_not_found"


class PageNotFound(GigatileError):
    """`page=` beyond the frames or pages the image has."""

    code = "page_not_found"


class AssociatedImageNotFound(GigatileError):
    """No associated image (label, macro, thumbnail …) of that name."""

    code = "associated_image_not_found"


class TooLarge(GigatileError):
    code = "too_large"


class ReadBudgetExceeded(TooLarge):
    """A request would read more from storage than GIGATILE_MAX_REQUEST_GETS / _READ_MB allow.

    413 like any request over a limit (the file may be valid, just too costly to serve this
    way); a file whose structure is implausible is refused earlier, as 415."""

    code = "read_budget_exceeded"


class UnsupportedImage(GigatileError):
    code = "unsupported_image"


class UpstreamError(GigatileError):
    """S3 answered with something unusable (a 5xx after retries, a broken body)."""

    code = "upstream_error"


class UpstreamUnavailable(GigatileError):
    """S3 could not be reached or kept throttling."""

    code = "upstream_unavailable"


class SourceChanged(GigatileError):
    """The object was overwritten while we read it (its ETag no longer matches)."""

    code = "source_changed"
    key = ""  # the store key that changed, set by the reader that found it


class ConversionPending(GigatileError):
    """A full decode over the pixel budget, while the converter builds the pyramid."""

    code = "conversion_pending"
    retry_after = 60


class DeadlineExceeded(GigatileError):
    """The request ran out of its time budget (below the Lambda timeout)."""

    code = "deadline_exceeded"
