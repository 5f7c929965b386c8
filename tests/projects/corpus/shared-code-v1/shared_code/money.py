"""Code shared by several functions, in a folder of its own (the documented v1 layout)."""

import six


def cents(amount: str) -> int:
    whole, _, fraction = six.text_type(amount).partition(".")
    return int(whole) * 100 + int((fraction + "00")[:2])
