"""Reading the deployment files as Compose and systemd read them: what each service runs."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.database import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
UNITS_DIR = ROOT / "deploy" / "systemd"
# The services s3meta runs, by role; the rest (mysql, mysql-replica, redis, moto) are stand-ins.
APP_SERVICES = ("migrate", "setup", "bridge", "worker", "flower", "api", "relay")
UNIT_OF_SERVICE = {
    "migrate": "s3meta-migrate.service",
    "worker": "s3meta-worker.service",
    "bridge": "s3meta-bridge.service",
    "flower": "s3meta-flower.service",
    "api": "s3meta-api.service",
    "relay": "s3meta-relay.service",
}

_VARIABLE = re.compile(
    r"""\$(?:
        (?P<escaped>\$)
      | \{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<rest>))?
      | (?P<bare>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


class MissingVariable(ValueError):
    """A ``${VAR:?message}`` whose variable is not set: Compose refuses to start."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with Compose's variables substituted from ``env``, as ``docker compose`` does.

    Supports ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
    ``${VAR:?error}``, ``${VAR?error}``, with variables nested in defaults.
    """
    out: list[str] = []
    position = 0
    while True:
        match = _VARIABLE.search(text, position)
        if match is None:
            out.append(text[position:])
            return "".join(out)
        out.append(text[position : match.start()])
        if match["escaped"]:
            out.append("$")
            position = match.end()
        elif match["bare"]:
            out.append(env.get(match["bare"], ""))
            position = match.end()
        else:
            name = match["braced"]
            if match["op"] is None:
                if text[match.end()] != "}":
                    raise ValueError(f"unterminated variable in {text!r}")
                out.append(env.get(name, ""))
                position = match.end() + 1
                continue
            argument, position = _braced_argument(text, match.end())
            value = env.get(name)
            unset = value is None or (match["op"].startswith(":") and value == "")
            if match["op"].endswith("-"):
                out.append(interpolate(argument, env) if unset else str(value))
            elif unset:
                raise MissingVariable(f"{name}: {interpolate(argument, env)}")
            else:
                out.append(str(value))


def _braced_argument(text: str, start: int) -> tuple[str, int]:
    """The text up to the ``}`` closing a ``${...}`` that began before ``start``, and past it."""
    depth = 1
    index = start
    while index < len(text):
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start:index], index + 1
        index += 1
    raise ValueError(f"unterminated variable in {text!r}")


def load_compose() -> dict[str, Any]:
    """docker-compose.yml as YAML, anchors and merge keys resolved, nothing interpolated."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def interpolated(value: Any, env: Mapping[str, str]) -> Any:
    """``value`` (parsed YAML) with every string interpolated, as Compose does after parsing."""
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, dict):
        return {key: interpolated(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolated(item, env) for item in value]
    return value


@dataclass(frozen=True)
class Command:
    """What a service runs: its arguments and its environment, after interpolation."""

    argv: list[str]
    env: dict[str, str]


def compose_command(compose: Mapping[str, Any], service: str, env: Mapping[str, str]) -> Command:
    """The command and environment Compose would give ``service``'s container."""
    spec = compose["services"][service]
    command = spec["command"]
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    environment = spec.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    resolved = {key: interpolate(str(value), env) for key, value in environment.items()}
    return Command([interpolate(arg, env) for arg in argv], resolved)


@dataclass(frozen=True)
class Unit:
    """One systemd unit file: every value of every key, in order (keys may repeat)."""

    path: Path
    sections: dict[str, dict[str, list[str]]]

    def values(self, section: str, key: str) -> list[str]:
        return self.sections.get(section, {}).get(key, [])

    def value(self, section: str, key: str) -> str | None:
        found = self.values(section, key)
        return found[-1] if found else None

    def environment(self) -> dict[str, str]:
        """The ``Environment=`` assignments (not the files), later ones winning."""
        assignments: dict[str, str] = {}
        for line in self.values("Service", "Environment"):
            for word in shlex.split(line):
                name, _, value = word.partition("=")
                assignments[name] = value
        return assignments


def load_unit(path: Path) -> Unit:
    """Parse a unit file; repeated keys (Environment=, EnvironmentFile=) keep every value."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise ValueError(f"{path.name}: not a unit file line: {raw!r}")
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return Unit(path, sections)


def unit_command(unit: Unit, env: Mapping[str, str]) -> Command:
    """What systemd would run for ``unit``: ``${VAR}`` from ``env`` then ``Environment=``."""
    exec_start = unit.value("Service", "ExecStart")
    assert exec_start is not None, f"{unit.path.name} has no ExecStart"
    environment = {**env, **unit.environment()}
    argv = [_expand_unit_word(word, environment) for word in shlex.split(exec_start)]
    return Command(argv, environment)


def _expand_unit_word(word: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m[1], ""), word)


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines, as systemd's ``EnvironmentFile=`` and Compose's ``.env`` read them."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, value = line.partition("=")
        assert separator, f"{path.name}: not NAME=value: {raw!r}"
        values[name.strip()] = value.strip()
    return values
