"""Mails a notice through an "email" output binding, a type no extension in the bundle has:
the host lists the function but never creates it."""

import azure.functions as func


def main(req: func.HttpRequest, notice: func.Out[str]) -> func.HttpResponse:
    notice.set("an order shipped")
    return func.HttpResponse("sent")
