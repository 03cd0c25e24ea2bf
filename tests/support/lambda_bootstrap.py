"""Run inside a bare interpreter (``python -I -S``) beside an unpacked Lambda package: call a
handler of the package on the JSON event read from stdin, print its answer as JSON, and name
every module loaded from anywhere but the package and the standard library.

    python -I -S tests/support/lambda_bootstrap.py PACKAGE_DIR handler|migrate < event.json
"""

import json
import sys
import sysconfig
import uuid

PACKAGE = sys.argv[1]
sys.path.insert(0, PACKAGE)

from s3meta import lambda_handler  # noqa: E402


class Context:
    """What Lambda hands a handler."""

    aws_request_id = str(uuid.uuid4())
    function_name = "s3meta-indexer"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def outside() -> list[str]:
    allowed = (PACKAGE, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if (where := getattr(module, "__file__", None))
        and where != __file__  # this script
        and not where.startswith(allowed)
    )


handler = getattr(lambda_handler, sys.argv[2])
answer = handler(json.loads(sys.stdin.read()), Context())
print(json.dumps({"answer": answer, "outside": outside(), "path": sys.path}))
