"""One of two function apps in one repository (src/orders, src/billing), each with its own
host.json and published on its own, sharing pins kept at the repository's root."""

import azure.functions as func
import six

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orders/{order_id}", methods=["GET"])
def get_order(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(six.text_type(f"order {req.route_params['order_id']} from orders"))
