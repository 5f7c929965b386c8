import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name", "world")
    return func.HttpResponse(f"Hello, {name}!")


@app.function_name("nightly")
@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer")
def nightly_job(timer: func.TimerRequest) -> None:
    pass
