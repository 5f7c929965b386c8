import azure.functions as func
import six


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(six.text_type(f"hello {req.route_params['name']}, re-exported"))
