# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of the collection's modules.

PRIVATE to the bluegreen.core collection: may change without notice.

Every error a user or a host can cause is a ``BluegreenError`` (or a subclass): its message says what
failed and what to do, and ``param`` names the module option at fault when there is one. The modules
catch it, and the OS errors a host can raise, in one place (``_routers.base.run``), so a user never
sees a traceback for a bad input or a broken host.
"""

from __future__ import annotations


class BluegreenError(Exception):
    """A failure to report to the user as it is; ``param`` names the option at fault, if any; ``fields`` go into the
    module's failed result beside the message (what was done before the failure)."""

    def __init__(self, message: str, param: str | None = None, fields: dict | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.fields = fields or {}


def os_error_text(exc: OSError) -> str:
    """An OSError in words, with the file it concerns when Python knows it."""
    text = exc.strerror or str(exc)
    return f"{text}: {exc.filename}" if exc.filename and exc.strerror else text
