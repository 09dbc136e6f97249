"""What review's services raise when they refuse; each message is written to be shown to the user.

Views and the API map them to responses: ``ReviewPermissionError`` is a 403, ``ReviewConflictError`` a 409,
the others a form error. Features add their own subclasses (``decisions.CropsNotSeenError``,
``comments.CommentError``, ``metadata.MetadataInvalidError``).
"""


class ReviewError(Exception):
    """A transition that is not allowed; the message is shown to the user."""


class ReviewPermissionError(ReviewError):
    """The actor may not make this transition (a 403, not a form error)."""


class ReviewConflictError(ReviewError):
    """Someone else changed the asset first (a double click, two reviewers at once)."""


class ReviewCommentRequiredError(ReviewError):
    """The transition needs a comment saying why, and none was given."""
