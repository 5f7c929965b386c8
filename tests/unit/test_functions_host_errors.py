"""Reading the Functions host's errors: a traceback or a host message becomes one line naming
the exception and the app's line that raised it."""

from __future__ import annotations

from typing import Any

import pytest

from azpublish.azure.functions_host import (
    DETAIL_LENGTH,
    SUMMARY_LENGTH,
    TAIL_LINES,
    LoadError,
    error_texts,
    load_errors,
    summarize,
)
from azpublish.redact import register_secret

# As the emulator's worker reports a v1 script that does not import.
EMULATOR_V1 = '''Traceback (most recent call last):
  File "/opt/azpublish/emulator/worker.py", line 109, in describe_v1
    if not callable(getattr(import_v1(wwwroot, script_file), entry_point, None)):
  File "/usr/lib/python3.11/importlib/__init__.py", line 126, in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "/state/apps/shop/sites/production/wwwroot/Orders/__init__.py", line 6, in <module>
    import pandas as pd
ModuleNotFoundError: No module named 'pandas'
'''
# A dependency that fails inside .python_packages, imported by the app on Azure's paths.
WORKER = "/azure-functions-host/workers/python/3.11/LINUX/X64/azure_functions_worker"
SITE_PACKAGES = "/home/site/wwwroot/.python_packages/lib/site-packages"
IN_A_DEPENDENCY = f'''Traceback (most recent call last):
  File "{WORKER}/loader.py", line 200, in load_function
  File "/home/site/wwwroot/Reports/__init__.py", line 3, in <module>
    import pandas
  File "{SITE_PACKAGES}/pandas/__init__.py", line 22, in <module>
    from pandas.compat import is_numpy_dev
ImportError: numpy.core.multiarray failed to import
'''
CHAINED = '''Traceback (most recent call last):
  File "/home/site/wwwroot/function_app.py", line 9, in <module>
    settings = json.loads(os.environ["APP_CONFIG"])
KeyError: 'APP_CONFIG'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/home/site/wwwroot/function_app.py", line 11, in <module>
    raise RuntimeError("APP_CONFIG is not set")
RuntimeError: APP_CONFIG is not set
'''
SYNTAX = '''Traceback (most recent call last):
  File "/home/site/wwwroot/function_app.py", line 4, in <module>
    from blueprints import orders
  File "/home/site/wwwroot/blueprints/orders.py", line 7
    def broken(:
               ^
SyntaxError: invalid syntax
'''


@pytest.mark.parametrize(("text", "summary"), [
    (EMULATOR_V1, "ModuleNotFoundError: No module named 'pandas' (Orders/__init__.py, line 6)"),
    # The app's own line, not the dependency's: that is the one to change.
    (IN_A_DEPENDENCY, "ImportError: numpy.core.multiarray failed to import "
                      "(Reports/__init__.py, line 3)"),
    (CHAINED, "RuntimeError: APP_CONFIG is not set (function_app.py, line 11)"),
    (SYNTAX, "SyntaxError: invalid syntax (blueprints/orders.py, line 7)"),
    # The host's own function errors are one flattened line.
    ("Invalid script file name configuration. The 'scriptFile' property is set to a file that "
     "does not exist.", "Invalid script file name configuration. The 'scriptFile' property is "
                        "set to a file that does not exist."),
    ("  first line\nsecond line\n", "first line"),
    ("", "(the host gave no text)"),
])
def test_summaries(text: str, summary: str) -> None:
    assert summarize(text) == summary


def test_frames_outside_the_app_give_no_location() -> None:
    text = ('Traceback (most recent call last):\n  File "/opt/worker.py", line 3, in index\n'
            "    crash()\nMemoryError\n")
    assert summarize(text) == "MemoryError"


def test_only_a_dependency_frame_is_still_a_location() -> None:
    text = ('Traceback (most recent call last):\n'
            '  File "/home/site/wwwroot/.python_packages/lib/site-packages/grpc/__init__.py", '
            "line 22, in <module>\n    from grpc import _cython\n"
            "ImportError: cannot import name 'cygrpc'\n")
    assert summarize(text) == ("ImportError: cannot import name 'cygrpc' "
                               "(.python_packages/lib/site-packages/grpc/__init__.py, line 22)")


def test_a_long_message_is_cut_on_one_line() -> None:
    summary = summarize("x" * 1000 + "\nmore")
    assert len(summary) == SUMMARY_LENGTH and summary.endswith("...")


@pytest.mark.parametrize(("body", "texts"), [
    ({"errors": ["one", "", "  ", 3, None, "two"]}, ["one", "two"]),
    ({"state": "Running"}, []),
    ({"errors": "not a list"}, []),
    ({}, []),
    (None, []),
    (["errors"], []),
])
def test_error_texts_take_strings_from_the_errors_list_only(body: Any, texts: list[str]) -> None:
    assert error_texts(body) == texts


def test_load_errors_are_redacted_and_bounded() -> None:
    secret = "pw-0123456789abcdef"  # as an app setting could appear in a traceback
    register_secret(secret)
    long_tail = "\n".join(f"  line {n}" for n in range(2000))
    [error] = load_errors("Orders", {"errors": [f"ValueError: bad password {secret}\n{long_tail}"]})
    assert error.function == "Orders"
    assert secret not in error.summary + error.detail
    assert error.summary == "ValueError: bad password ***"
    assert len(error.detail) == DETAIL_LENGTH
    assert error.line() == "Orders: ValueError: bad password ***"
    assert error.as_dict() == {"name": "Orders", "error": error.summary, "detail": error.detail}


def test_the_hosts_own_error_and_a_traceback_tail() -> None:
    error = LoadError(None, summarize(EMULATOR_V1), EMULATOR_V1)
    assert error.line().startswith("host: ModuleNotFoundError")
    tail = error.tail()
    assert len(tail) == TAIL_LINES
    assert tail[-2:] == ["    import pandas as pd", "ModuleNotFoundError: No module named 'pandas'"]
