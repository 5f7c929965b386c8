"""The binding-only shape: the function's one effect is its ``$return`` output binding (a queue
message); it calls no SDK, and the host does the writing."""

import json

import azure.functions as func


def main(timer: func.TimerRequest) -> str:
    return json.dumps({"digest": "nightly", "late": bool(timer.past_due)})
