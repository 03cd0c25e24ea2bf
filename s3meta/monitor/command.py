"""s3meta's terms for ``celery -A tasks flower``, set by the app, wherever Flower starts.

Flower reads its configuration from ``flowerconfig.py`` in the working directory only, so a
file cannot carry them: started anywhere else (or from an installed package) Flower would
serve everything, remote control included, without a login on every address. The celery
command line resolves its subcommand, then imports the app (``-A tasks``), then runs the
subcommand; ``tasks`` calls ``guard_flower_command()`` on import, which wraps Flower's click
command before it runs. The wrapper:

- refuses to start without ``FLOWER_BASIC_AUTH`` (one line, exit status 1), and after
  Flower has read its variables, ``--conf`` file and command line, without credentials;
- makes loopback, in-memory state and no ``enable_events`` the defaults: ``FLOWER_*``
  variables, a ``--conf`` file and the command line still override them;
- installs the SQS broker page (``s3meta.monitor.flower.install``).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import click

from s3meta.errors import ConfigError
from s3meta.monitor.auth import basic_auth_from_env, checked_pairs

DEFAULT_ADDRESS = "127.0.0.1"
_GUARDED = "_s3meta_guarded"


def guard_flower_command() -> None:
    """Wrap Flower's command when the running celery command line is about to start it."""
    context = click.get_current_context(silent=True)
    if context is None or context.invoked_subcommand != "flower":
        return
    group = context.command
    if not isinstance(group, click.Group):
        return
    command = group.get_command(context, "flower")
    if command is None or command.callback is None:
        return
    if not getattr(command.callback, _GUARDED, False):
        command.callback = guarded(command.callback)


def guarded(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback`` (Flower's command), run only after ``prepare_flower()`` succeeded."""

    @functools.wraps(callback)
    def flower_on_s3meta_terms(*args: Any, **kwargs: Any) -> Any:
        try:
            prepare_flower(os.environ)
        except ConfigError as error:
            sys.exit(f"flower: {error}")
        return callback(*args, **kwargs)

    setattr(flower_on_s3meta_terms, _GUARDED, True)
    return flower_on_s3meta_terms


def prepare_flower(environ: Mapping[str, str]) -> None:
    """Check the credentials and set s3meta's defaults before Flower reads its options."""
    from s3meta.compat import flower as upstream

    basic_auth_from_env(environ)
    options = upstream.options()
    options.address = DEFAULT_ADDRESS
    # State lives in memory; a shelve file in the working directory is litter on a node.
    options.persistent = False
    # Flower would tell every worker to send events every few seconds; on SQS each event costs
    # SNS publishes and SQS messages, so only workers started with -E send them.
    options.enable_events = False
    upstream.check_settings_first(functools.partial(require_credentials, options))

    from s3meta.monitor.flower import install

    install()


def require_credentials(options: Any) -> None:
    """Stop Flower (one line, exit status 1) if its basic auth is empty or malformed.

    Run on the options Flower is about to serve with, after every source was read, so
    neither a ``--conf`` file nor ``--basic-auth=`` can turn authentication off.
    """
    try:
        if not options.basic_auth:
            raise ConfigError(
                "basic_auth is empty after the --conf file and the command line: "
                "Flower does not start without authentication"
            )
        checked_pairs(options.basic_auth, "basic_auth")
    except ConfigError as error:
        sys.exit(f"flower: {error}")
