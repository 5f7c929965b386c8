"""Model v1 with one function that cannot import: Reports needs pandas, which
requirements.txt forgot. The other functions work, so the host indexes them and not it."""

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("orders are fine")
