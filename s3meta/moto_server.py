"""moto's server, the local stand-in for AWS, with its SQS queues safe for concurrent clients.

``python -m s3meta.moto_server -H 127.0.0.1 -p PORT`` runs moto's own command line after
``s3meta.compat.moto.make_sqs_thread_safe``; tests, benchmarks, the demo and the compose
``moto`` service all run moto through it.
"""

from __future__ import annotations


def main() -> None:
    """moto's own command line, on the mended queues."""
    from moto.server import main as moto_main

    from s3meta.compat.moto import make_sqs_thread_safe

    make_sqs_thread_safe()
    moto_main()


if __name__ == "__main__":
    main()
