"""The monorepo's second app, still on model v1: apps of one repository need not share a
programming model."""

import azure.functions as func
import six


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(six.text_type(f"invoice {req.route_params['number']} from billing"))
