"""One module serving several v1 functions: each folder holds only its function.json, naming
this script and its own entry point."""

import azure.functions as func
import six


def get_user(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(six.text_type(f"user {req.route_params.get('user_id')}"))


def list_users(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("users: ada, grace")
