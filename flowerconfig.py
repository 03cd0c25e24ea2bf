"""Flower's configuration for s3meta (``celery -A tasks flower`` reads it from here).

Flower executes this file at start (tornado's ``parse_config_file``); every top-level
name that is one of Flower's options sets it, and the command line still wins. Flower
applies its ``FLOWER_*`` variables before this file, so the ones set here are read again.
"""

import os
import sys

from s3meta.errors import ConfigError
from s3meta.monitor.auth import basic_auth_from_env
from s3meta.monitor.flower import install

try:
    # Never serve the pipeline, and remote control, without credentials.
    basic_auth = basic_auth_from_env(os.environ)
except ConfigError as _error:
    sys.exit(f"flower: {_error}")

install()

# Loopback unless asked: Flower is an admin console, not a public page.
address = os.environ.get("FLOWER_ADDRESS", "127.0.0.1")
port = int(os.environ.get("FLOWER_PORT", "5555"))
# State lives in memory; a shelve file in the working directory is litter on a worker node.
persistent = False
# Flower would otherwise tell every worker to send events every few seconds; events cost
# SNS publishes and SQS messages per task, so only workers started with -E send them.
enable_events = os.environ.get("FLOWER_ENABLE_EVENTS", "false").lower() in {"1", "true", "yes"}
