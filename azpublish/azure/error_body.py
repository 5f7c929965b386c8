"""What a server's JSON error body says, in either shape Azure answers.

The ARM front end (and Kudu, at times) wraps errors as ``{"error": {"code", "message"}}``; the
Microsoft.Web resource provider's own come unwrapped and capitalised (``{"Code", "Message",
"Target", "Details", "Innererror"}``), which azure-core reports only as "Operation returned an
invalid status". One reader for both, for the ARM facade and the Kudu client alike.
"""

from __future__ import annotations

from typing import Any


def error_text(data: object) -> str | None:
    """``"CODE: message"`` (or the message alone) from a decoded error body, else None."""
    if not isinstance(data, dict):
        return None
    wrapped = data.get("error")
    error: dict[str, Any] = wrapped if isinstance(wrapped, dict) else data
    message = error.get("message") or error.get("Message")
    if not isinstance(message, str) or not message:
        return None
    code = error.get("code") or error.get("Code")
    return f"{code}: {message}" if isinstance(code, str) and code else message
