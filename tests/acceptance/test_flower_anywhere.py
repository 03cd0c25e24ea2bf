"""Flower demands a login and listens on loopback wherever it starts: another directory, a wheel.

Each test runs ``celery -A tasks flower`` from a scratch directory holding no
``flowerconfig.py``: once with this checkout importable (the editable install), once from a
wheel of the project installed non-editable into a ``--target`` directory, run with ``-S``
so that the editable install cannot be what answers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from s3meta.processes import MotoServer, free_port
from tests.acceptance.test_flower import base_env, queue_names
from tests.support.database import ROOT
from tests.support.flower import (
    PASSWORD,
    USER,
    FlowerProcess,
    flower_command,
    flower_env,
    listening_addresses,
)

# What the wheel is built from: the files the Dockerfile copies too.
SOURCES = ("pyproject.toml", "README.md", "s3meta", "tasks", "db")
PAGES = ("/", "/api/workers", "/api/tasks", "/api/queues/length", "/broker")


@dataclass(frozen=True)
class Install:
    """How to run Python so that ``tasks`` comes from one place."""

    name: str
    python: tuple[str, ...]
    pythonpath: str | None

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return env if self.pythonpath is None else {**env, "PYTHONPATH": self.pythonpath}


def build_and_install_wheel(scratch: Path) -> Path:
    """A wheel of the project, installed without its dependencies into ``scratch/site``."""
    source = scratch / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    wheels = scratch / "wheels"
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)], check=True)
    (wheel,) = wheels.glob("s3meta-*.whl")
    site = scratch / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
        check=True,
    )
    return site


@pytest.fixture(scope="module", params=["other-directory", "wheel"])
def install(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Install:
    if request.param == "other-directory":
        return Install("other-directory", (sys.executable,), None)
    site = build_and_install_wheel(tmp_path_factory.mktemp("wheel"))
    # -S: no site-packages, so no editable install; the dependencies come from the venv's.
    dependencies = sysconfig.get_paths()["purelib"]
    return Install("wheel", (sys.executable, "-S"), f"{site}:{dependencies}")


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory with nothing of s3meta in it."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


def run_flower(
    install: Install, env: dict[str, str], cwd: Path, args: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        flower_command(free_port(), python=install.python, extra=args),
        cwd=cwd,
        env=flower_env(install.env(env)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_tasks_comes_from_the_place_under_test(install: Install, elsewhere: Path) -> None:
    done = subprocess.run(
        [*install.python, "-c", "import tasks; print(tasks.__file__)"],
        cwd=elsewhere,
        env=flower_env(install.env({})),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    origin = Path(done.stdout.strip())
    if install.pythonpath is None:
        assert origin.is_relative_to(ROOT)
    else:
        assert origin.is_relative_to(install.pythonpath.split(":")[0])
        assert not (origin.parents[1] / "flowerconfig.py").exists()


def test_flower_elsewhere_exits_1_with_one_line_without_credentials(
    install: Install, moto_server: MotoServer, elsewhere: Path
) -> None:
    done = run_flower(install, {**base_env(moto_server, elsewhere), **queue_names()}, elsewhere)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("flower: FLOWER_BASIC_AUTH is not set: "), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_flower_elsewhere_serves_nothing_without_credentials_and_listens_on_loopback_only(
    install: Install, moto_server: MotoServer, elsewhere: Path
) -> None:
    port = free_port()
    env = {**base_env(moto_server, elsewhere), **queue_names(), "FLOWER_PORT": str(port)}
    flower = FlowerProcess(
        install.env(env),
        elsewhere / "flower.log",
        command=flower_command(address=None, python=install.python),
        port=port,
        cwd=elsewhere,
    )
    try:
        for page in PAGES:
            assert flower.get(page, auth=None).status == 401, page
            assert flower.get(page, auth=(USER, "wrong")).status == 401, page
            assert flower.get(page, auth=(USER, PASSWORD)).status == 200, (page, flower.log())
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        assert flower.stop() == 0, flower.log()
    assert not list(elsewhere.glob("flower*.db")), "state is kept in memory"


def test_a_conf_file_still_configures_flower_and_the_command_line_wins(
    moto_server: MotoServer, elsewhere: Path
) -> None:
    conf = elsewhere / "site-flower.py"
    conf.write_text('address = "127.0.0.3"\n')
    env = {**base_env(moto_server, elsewhere), **queue_names()}
    for address, extra in (("127.0.0.3", ()), ("127.0.0.2", ("--address=127.0.0.2",))):
        port = free_port()
        flower = FlowerProcess(
            env,
            elsewhere / f"flower-{address}.log",
            command=flower_command(port, address=None, extra=(f"--conf={conf}", *extra)),
            port=port,
            address=address,
            cwd=elsewhere,
        )
        try:
            assert flower.get("/api/tasks", auth=None).status == 401
            assert listening_addresses(port) == {address}
        finally:
            flower.stop()


@pytest.mark.parametrize(
    ("conf_text", "args", "message"),
    [
        ("basic_auth = []\n", (), "basic_auth is empty"),
        ("", ("--basic-auth=ops:",), "every entry must be user:password"),
    ],
)
def test_neither_a_conf_file_nor_the_command_line_turns_authentication_off(
    moto_server: MotoServer, elsewhere: Path, conf_text: str, args: tuple[str, ...], message: str
) -> None:
    conf = elsewhere / "site-flower.py"
    conf.write_text(conf_text)
    env = {
        **base_env(moto_server, elsewhere),
        **queue_names(),
        "FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}",
    }
    plain = Install("other-directory", (sys.executable,), None)

    done = run_flower(plain, env, elsewhere, (f"--conf={conf}", *args))

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("flower: "), done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
