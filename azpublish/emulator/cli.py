"""``azpublish emulator ...``: start the emulator, print its environment, manage apps and faults.

Parsing only; the work happens in ``server``, ``endpoint`` and ``control``. Errors are the
project's ``AzPublishError`` tree, printed as ``error: ...`` with their exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from azpublish.command_line import Parser, version_text
from azpublish.emulator.control import open_control
from azpublish.emulator.endpoint import process_alive, read_endpoint
from azpublish.emulator.faults import FAULT_KINDS, STAGES
from azpublish.emulator.layout import StateLayout
from azpublish.emulator.plans import PLAN_KINDS
from azpublish.emulator.quirks import QUIRKS
from azpublish.emulator.urls import URL_SCHEME_CHOICES
from azpublish.errors import AzPublishError, ExitCode, UsageError

STATE_ENV = "AZPUBLISH_EMULATOR_STATE_DIR"


def _state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=os.environ.get(STATE_ENV) or None,
                        help=f"the emulator's state directory (env {STATE_ENV})")


def build_parser(prog: str = "azpublish emulator") -> argparse.ArgumentParser:
    parser = Parser(prog=prog, description="A local HTTPS stand-in for Azure App Service: "
                    "ARM, Kudu, remote build and a function host.")
    parser.add_argument("-V", "--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    start = commands.add_parser("start", help="run the emulator in the foreground")
    _state_dir(start)
    start.add_argument("--host", default="127.0.0.1", help="address to listen on")
    start.add_argument("--port", type=int, default=0, help="HTTPS port (0: any free port)")
    start.add_argument("--identity-port", type=int, default=0,
                       help="port of the plain-http managed-identity endpoint (0: any)")
    start.add_argument("--url-scheme", choices=URL_SCHEME_CHOICES, default="auto",
                       help="hand out App Service host names (*.azurewebsites.localhost) or "
                            "path-prefixed URLs; auto: host names where they resolve to loopback")
    start.add_argument("--settings-delay", type=float, metavar="SECONDS",
                       help="how late Kudu sees app-setting changes")
    start.add_argument("--max-upload-bytes", type=int, metavar="N",
                       help="refuse larger uploads with 413")
    start.add_argument("--flex-zipdeploy-status", type=int, metavar="STATUS",
                       help="what /api/zipdeploy answers on Flex Consumption apps")
    start.add_argument("--quirks", metavar="SPEC",
                       help="which of the real service's quirks to imitate: all (the default), "
                            "none, names, -name to switch one off (e.g. all,-index_lag): "
                            + ", ".join(QUIRKS))

    env = commands.add_parser("env", help="print export lines that point clients at it")
    _state_dir(env)

    create = commands.add_parser("create-app", help="create a function app (and its plan)")
    _state_dir(create)
    create.add_argument("name")
    create.add_argument("--python", default="3.11", help="the app's Python version")
    create.add_argument("--plan", choices=PLAN_KINDS, default="dedicated")
    create.add_argument("--resource-group", help="default: the emulator's (azpublish-rg)")

    slot = commands.add_parser("create-slot", help="add a deployment slot to an app")
    _state_dir(slot)
    slot.add_argument("name")
    slot.add_argument("slot")

    delete = commands.add_parser("delete-app", help="delete an app with its slots and files")
    _state_dir(delete)
    delete.add_argument("name")

    listing = commands.add_parser("list-apps", help="list the apps")
    _state_dir(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")

    fault = commands.add_parser("fault", help="inject faults into a running emulator")
    _state_dir(fault)
    actions = fault.add_subparsers(dest="action", required=True, parser_class=Parser)
    add = actions.add_parser("add", help="add a fault")
    add.add_argument("kind", choices=FAULT_KINDS)
    add.add_argument("--app", help="only requests about this app")
    add.add_argument("--path", help="fail: a glob of request paths, e.g. '*/api/zipdeploy'")
    add.add_argument("--method", help="fail: only this HTTP method")
    add.add_argument("--status", type=int, help="fail: the status to answer (default 503)")
    add.add_argument("--retry-after", type=int, help="fail: Retry-After seconds")
    add.add_argument("--count", type=int, help="how many times (0: until cleared; default 1)")
    add.add_argument("--seconds", type=float,
                     help="settings_delay / slow_build: seconds; slow_upload: the pause "
                     "after each chunk")
    add.add_argument("--after-bytes", type=int, help="drop_upload: bytes before the drop")
    add.add_argument("--stage", action="append", choices=STAGES, dest="stages",
                     help="hold: stop at this stage (repeatable; default pending)")
    actions.add_parser("list", help="list active faults")
    actions.add_parser("clear", help="remove every fault")
    remove = actions.add_parser("remove", help="remove one fault")
    remove.add_argument("fault_id")
    release = actions.add_parser("release", help="let a held deployment go on by one stage")
    release.add_argument("name")
    release.add_argument("--slot")
    return parser


def _require_state(args: argparse.Namespace) -> Path:
    if args.state_dir is None:
        raise UsageError("no state directory given",
                         fix=f"pass --state-dir DIR or set {STATE_ENV}")
    path: Path = args.state_dir
    return path


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def _start(args: argparse.Namespace) -> int:
    from azpublish.emulator.server import ServeOptions, serve  # the server stack, only here

    changes = {name: value for name, value in (
        ("settings_propagation_delay", args.settings_delay),
        ("max_upload_bytes", args.max_upload_bytes),
        ("flex_zipdeploy_status", args.flex_zipdeploy_status),
        ("quirks", args.quirks),
    ) if value is not None}
    return serve(ServeOptions(state_dir=_require_state(args), host=args.host, port=args.port,
                              identity_port=args.identity_port, url_scheme=args.url_scheme,
                              config_changes=changes))


def _env(args: argparse.Namespace) -> int:
    layout = StateLayout(_require_state(args).resolve())
    info = read_endpoint(layout)
    if info is None or not process_alive(info.pid):
        raise UsageError("no emulator is running on this state directory",
                         where=str(layout.root),
                         fix="start one: azpublish emulator start --state-dir "
                             f"{layout.root}")
    print("\n".join(info.export_lines()))
    return 0


def _fault(args: argparse.Namespace) -> int:
    with open_control(_require_state(args)) as control:
        if args.action == "add":
            spec = {k: v for k, v in {
                "kind": args.kind, "app": args.app, "path": args.path, "method": args.method,
                "status": args.status, "retry_after": args.retry_after, "count": args.count,
                "seconds": args.seconds, "after_bytes": args.after_bytes,
                "stages": args.stages}.items() if v is not None}
            _print_json(control.add_fault(spec))
        elif args.action == "list":
            _print_json(control.list_faults())
        elif args.action == "clear":
            print(f"removed {control.clear_faults()} fault(s)")
        elif args.action == "remove":
            control.remove_fault(args.fault_id)
        else:
            control.release(args.name, args.slot)
    return 0


def _apps(args: argparse.Namespace) -> int:
    with open_control(_require_state(args)) as control:
        if args.command == "create-app":
            _print_json(control.create_app(args.name, plan=args.plan, python=args.python,
                                           resource_group=args.resource_group))
        elif args.command == "create-slot":
            _print_json(control.create_slot(args.name, args.slot))
        elif args.command == "delete-app":
            control.delete_app(args.name)
            print(f"deleted {args.name}")
        elif args.json:
            _print_json(control.list_apps())
        else:
            for app in control.list_apps():
                slots = [s["slot"] for s in app["sites"] if s["slot"]]
                extra = f" slots: {', '.join(slots)}" if slots else ""
                print(f"{app['name']}\t{app['plan']} ({app['sku_tier']})\tPython {app['python']}"
                      f"\t{app['resource_group']}{extra}")
    return 0


def main(argv: Sequence[str]) -> int:
    try:
        args = build_parser().parse_args(list(argv))
        if args.command == "start":
            return _start(args)
        if args.command == "env":
            return _env(args)
        if args.command == "fault":
            return _fault(args)
        return _apps(args)
    except AzPublishError as error:
        print(f"error: {error.render()}", file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERNAL)
