"""Non-HTTP triggers next to an HTTP one: a timer, a queue and a blob trigger."""

import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.schedule(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
def every_five_minutes(timer: func.TimerRequest) -> None:
    logging.info("tick")


@app.queue_trigger(arg_name="message", queue_name="orders", connection="AzureWebJobsStorage")
def on_order(message: func.QueueMessage) -> None:
    logging.info("order %s", message.get_body())


@app.blob_trigger(arg_name="blob", path="uploads/{name}", connection="AzureWebJobsStorage")
def on_upload(blob: func.InputStream) -> None:
    logging.info("blob %s", blob.name)


@app.route(route="ping", auth_level=func.AuthLevel.ANONYMOUS)
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
