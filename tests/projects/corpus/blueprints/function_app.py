"""Blueprints registered from several modules, as larger v2 apps organise themselves."""

import azure.functions as func
from jobs.nightly import bp as jobs
from routes.orders import bp as orders
from routes.status import bp as status

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (orders, status, jobs):
    app.register_functions(blueprint)
