import json

import azure.functions as func
import six

bp = func.Blueprint()


@bp.route(route="orders/{order_id}", methods=["GET"])
def get_order(req: func.HttpRequest) -> func.HttpResponse:
    order_id = req.route_params["order_id"]
    return func.HttpResponse(json.dumps({"order": six.text_type(order_id)}),
                             mimetype="application/json")
