"""Both error shapes Azure answers read the same way (ARM facade and Kudu client share this)."""

from __future__ import annotations

import pytest

from azpublish.azure.error_body import error_text


@pytest.mark.parametrize(("body", "expected"), [
    ({"error": {"code": "ResourceNotFound", "message": "no app"}}, "ResourceNotFound: no app"),
    ({"Code": "Conflict", "Message": "busy", "Target": None, "Details": [], "Innererror": None},
     "Conflict: busy"),
    ({"Message": "only a message"}, "only a message"),
    ({"error": {"code": "X"}}, None),
    (["not", "an", "object"], None),
    ("a string", None),
    (None, None),
])
def test_error_text(body: object, expected: str | None) -> None:
    assert error_text(body) == expected
