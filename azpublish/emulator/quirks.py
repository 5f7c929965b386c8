"""What the real service does that an idealised stand-in would not: on by default.

Each quirk imitates an answer recorded from App Service (reference section 8, the recordings)
and can be switched off on its own, for a test that must say why it wants the kinder answer:
``azpublish emulator start --quirks all,-index_lag`` (or ``none,flex_onedeploy``), the config
key ``quirks``, or ``PATCH /_emulator/config``.
"""

from __future__ import annotations

from functools import lru_cache

from azpublish.errors import UsageError

QUIRKS: dict[str, str] = {
    "late_record": "Linux Kudu lists a temporary temp-xxxxxxxx record until the zip is "
                   "extracted; GET /api/deployments/{id} answers 404 until then",
    "in_progress_200": "Linux Kudu answers 200 with status forced to 0, not 202, for a "
                       "deployment id still in progress",
    "flex_onedeploy": "Flex OneDeploy answers 202 (async=true or not) with the id as a JSON "
                      "string and in Location, no SCM-DEPLOYMENT-ID; the record says "
                      "LegionOneDeploy, with an empty message and no author",
    "flex_not_found": "Flex answers 404 for a deployment for a while after the 202 and again "
                      "right after it completed (the worker is recycled)",
    "index_lag": "the function list stays empty for a while after a deployment succeeded",
}


@lru_cache(maxsize=32)  # read on every request; specs are few and the answer immutable
def parse_quirks(spec: str, *, where: str = "quirks") -> frozenset[str]:
    """``all``/``none`` and names, each optionally ``-``-prefixed to switch it off, in order."""
    enabled: set[str] = set()
    for raw in spec.split(","):
        word = raw.strip().lower()
        if not word:
            continue
        if word == "all":
            enabled = set(QUIRKS)
            continue
        if word == "none":
            enabled = set()
            continue
        name = word.removeprefix("-")
        if name not in QUIRKS:
            raise UsageError(f"unknown quirk {name!r}", where=where,
                             fix=f"use all, none or any of: {', '.join(QUIRKS)} (prefix - to "
                             "switch one off)")
        if word.startswith("-"):
            enabled.discard(name)
        else:
            enabled.add(name)
    return frozenset(enabled)
