"""An MCP server on Functions: tools as mcpToolTrigger functions, and an HTTP health check."""

import json

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

SNIPPET_PROPERTIES = json.dumps([
    {"propertyName": "name", "propertyType": "string", "description": "the snippet's name"}])


@app.mcp_tool_trigger(arg_name="context", tool_name="get_snippet",
                      description="Read a saved snippet.", tool_properties=SNIPPET_PROPERTIES)
def get_snippet(context: str) -> str:
    arguments = json.loads(context).get("arguments", {})
    return f"snippet {arguments.get('name', '?')}"


@app.mcp_tool_trigger(arg_name="context", tool_name="hello_tool", description="Say hello.")
def hello_tool(context: str) -> str:
    return "hello from an MCP tool"


@app.route(route="healthz")
def healthz(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("mcp server up")
