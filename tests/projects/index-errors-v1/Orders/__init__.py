"""Reads orders into a data frame; pandas was never added to requirements.txt."""

import json

import azure.functions as func
import pandas as pd


def main(req: func.HttpRequest) -> func.HttpResponse:
    frame = pd.DataFrame([{"id": 1, "total": 3.75}])
    return func.HttpResponse(json.dumps({"orders": len(frame)}), mimetype="application/json")
