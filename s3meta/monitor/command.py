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

# The Flower releases whose ``flower/command.py`` this module mirrors: the command's callback
# sets tornado's global ``options`` from FLOWER_* variables, the --conf file and the command
# line, in that order, then calls the module's ``extract_settings``. [lowest, first refused).
FLOWER_VERSIONS = ((2, 2), (2, 3))
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


def check_flower_version(version: tuple[int, ...]) -> None:
    """Raise ``ConfigError`` unless ``version`` is one this module mirrors."""
    lowest, refused = FLOWER_VERSIONS
    if not lowest <= tuple(version[:2]) < refused:
        shown = ".".join(map(str, version))
        raise ConfigError(
            f"flower {shown} is installed; s3meta's Flower guard (s3meta/monitor/command.py) "
            f"mirrors flower {lowest[0]}.{lowest[1]}.x only: install flower~="
            f"{lowest[0]}.{lowest[1]}.0 or check the guard against this release"
        )


def prepare_flower(environ: Mapping[str, str]) -> None:
    """Check the credentials and set s3meta's defaults before Flower reads its options."""
    import flower
    import flower.command

    check_flower_version(tuple(flower.VERSION))
    basic_auth_from_env(environ)
    options = flower.command.options
    options.address = DEFAULT_ADDRESS
    # State lives in memory; a shelve file in the working directory is litter on a node.
    options.persistent = False
    # Flower would tell every worker to send events every few seconds; on SQS each event costs
    # SNS publishes and SQS messages, so only workers started with -E send them.
    options.enable_events = False
    if not getattr(flower.command.extract_settings, _GUARDED, False):
        flower.command.extract_settings = requiring_credentials(
            flower.command.extract_settings, options
        )

    from s3meta.monitor.flower import install

    install()


def requiring_credentials(extract_settings: Callable[[], None], options: Any) -> Callable[[], None]:
    """Flower's ``extract_settings``, refusing options whose basic auth is empty or malformed.

    It runs after every source of options was read, so neither a ``--conf`` file nor
    ``--basic-auth=`` can turn authentication off.
    """

    @functools.wraps(extract_settings)
    def extract_settings_with_credentials() -> None:
        try:
            if not options.basic_auth:
                raise ConfigError(
                    "basic_auth is empty after the --conf file and the command line: "
                    "Flower does not start without authentication"
                )
            checked_pairs(options.basic_auth, "basic_auth")
        except ConfigError as error:
            sys.exit(f"flower: {error}")
        extract_settings()

    setattr(extract_settings_with_credentials, _GUARDED, True)
    return extract_settings_with_credentials
