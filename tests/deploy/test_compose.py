"""The docker/ deployment is checked statically: commands, settings, user and example env."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from pydantic import BaseModel, SecretStr

from orchestrator.cli.main import cli
from orchestrator.config import ENV_PREFIX, Settings, load_settings
from orchestrator.routing import QUEUES

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
ENV_EXAMPLE = DOCKER / "orchestrator.env.example"
NOT_SETTINGS = {"ORCH_CONFIG"}  # the CLI's --config, read by click, not a Settings field
_ENV_LINE = re.compile(r"^#?\s*(ORCH_[A-Z0-9_]+)=(.*)$")
_INTERPOLATION = re.compile(r"\$\{[^}]*\}")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def orchestrator_services() -> dict[str, dict[str, Any]]:
    """Services built from the project's image (the others are Redis and PostgreSQL)."""
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


def entrypoint() -> list[str]:
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("ENTRYPOINT"):
            words: list[str] = yaml.safe_load(line.removeprefix("ENTRYPOINT"))
            return words
    raise AssertionError("the Dockerfile has no ENTRYPOINT")


def resolve(args: list[str]) -> click.Context:
    """Parse ``args`` against the click tree without running anything; fail on anything unknown."""
    command: click.Command = cli
    args = list(args)
    while isinstance(command, click.Group):
        assert args, "a command group needs a subcommand"
        name = args.pop(0)
        assert name in command.commands, f"no command {name!r} under {command.name!r}"
        command = command.commands[name]
    return command.make_context(command.name, args)


def env_names(text: str) -> dict[str, str]:
    """Every ``ORCH_X=`` line of an env file, commented or not, with its value."""
    return {m[1]: m[2] for line in text.splitlines() if (m := _ENV_LINE.match(line.strip()))}


def setting_for(variable: str) -> str:
    """The Settings field an ``ORCH_`` variable sets (``__`` nests, ``_FILE`` only for secrets)."""
    assert variable.startswith(ENV_PREFIX), variable
    name = variable.removeprefix(ENV_PREFIX).lower()
    field, _, nested = name.partition("__")
    if field not in Settings.model_fields and field.endswith("_file"):
        field = field.removesuffix("_file")
        assert not nested, f"{variable}: a _FILE variable cannot be nested"
        annotation = Settings.model_fields.get(field)
        assert annotation is not None and annotation.annotation in (SecretStr, SecretStr | None), (
            f"{variable}: only secrets can be read from a file"
        )
    assert field in Settings.model_fields, f"{variable} is not a setting"
    model = Settings.model_fields[field].annotation
    if nested and isinstance(model, type) and issubclass(model, BaseModel):
        assert nested.split("__")[0] in model.model_fields, f"{variable}: no such key in {field}"
    return field


def test_every_service_command_exists_in_the_cli() -> None:
    services = orchestrator_services()
    assert entrypoint() == ["orchestrator"]
    queues: set[str] = set()
    for name, service in services.items():
        probe = service.get("healthcheck", {}).get("test", [])
        if probe[:2] == ["CMD", "orchestrator"]:
            resolve(probe[2:])
        ctx = resolve(service["command"])
        if ctx.command.name == "worker":
            named = ctx.params["queues"].split(",")
            assert set(named) <= set(QUEUES), f"{name}: unknown queues {named}"
            queues.update(named)
    assert queues == set(QUEUES), "every queue needs a worker"
    commands = {" ".join(s["command"][:2]) for s in services.values()}
    assert {"serve --host", "scheduler", "db upgrade"} <= commands


def test_every_variable_the_services_set_is_a_real_setting() -> None:
    for name, service in orchestrator_services().items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment as a mapping"
        for variable in environment:
            if variable not in NOT_SETTINGS:
                setting_for(variable)
        for env_file in service.get("env_file", []):
            path = DOCKER / (env_file["path"] if isinstance(env_file, dict) else env_file)
            text = path.read_text() if path.exists() else ENV_EXAMPLE.read_text()
            for variable in env_names(text):
                setting_for(variable)


def test_the_services_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = orchestrator_services()["api"]["environment"]
    for variable in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(variable)
    for variable, value in environment.items():
        if not variable.endswith("_FILE"):
            monkeypatch.setenv(variable, _INTERPOLATION.sub("secret", str(value)))
    settings = load_settings()
    assert settings.broker_url.startswith("redis://")
    assert settings.store_url.startswith("postgresql+psycopg://orchestrator:secret@postgres")


def test_services_wait_for_the_migration_and_the_store_has_a_volume() -> None:
    data = compose()
    for name, service in orchestrator_services().items():
        if name != "migrate":
            assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert "orchestrator-data:/var/lib/orchestrator" in service["volumes"]
    assert data["services"]["migrate"]["command"] == ["db", "upgrade"]
    assert "postgres-data:/var/lib/postgresql/data" in data["services"]["postgres"]["volumes"]
    for name in ("redis", "postgres", "api"):
        assert data["services"][name]["healthcheck"]["test"], f"{name} has a health check"
    assert {"postgres-data", "orchestrator-data"} <= set(data["volumes"])


def test_the_image_runs_as_an_unprivileged_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()]
    stages = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    assert len(stages) >= 2, "a multi-stage build"
    final = lines[stages[-1] :]
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage sets USER"
    user = users[-1].split(":")[0]
    uid_arg = next((line for line in final if line.startswith("ARG APP_UID=")), "ARG APP_UID=0")
    resolved = uid_arg.split("=", 1)[1] if user == "${APP_UID}" else user
    assert resolved not in ("root", "0"), f"the image runs as {resolved}"
    assert any(line.startswith("HEALTHCHECK") for line in final)
    assert any(line.startswith("FROM python:3.11") or "python:3.11-slim" in line for line in lines)


def test_the_example_env_file_covers_every_setting_with_a_comment() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    covered: set[str] = set()
    for index, line in enumerate(lines):
        match = _ENV_LINE.match(line.strip())
        if match:
            covered.add(setting_for(match[1]))
            above = lines[index - 1].strip()
            assert above.startswith("#") and not _ENV_LINE.match(above), f"{match[1]} needs a comment"
    assert covered == set(Settings.model_fields), sorted(set(Settings.model_fields) - covered)


def test_the_example_env_file_values_are_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(variable)
    for variable, value in env_names(ENV_EXAMPLE.read_text(encoding="utf-8")).items():
        if variable.endswith("_FILE"):
            secret = tmp_path / variable.lower()
            secret.write_text("example-secret-value\n")
            value = str(secret)
        monkeypatch.setenv(variable, value)
    settings = load_settings()
    assert settings.tiktok_client_secret is not None
    assert settings.playbook_dirs == [Path("/etc/orchestrator/playbooks")]


def test_the_wheel_ships_every_data_file_the_package_reads() -> None:
    """The image installs a wheel: a template missing from package-data breaks it there only."""
    import tomllib

    root = DOCKERFILE.parents[1]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["orchestrator"]
    package = root / "orchestrator"
    data = {
        p.relative_to(package)
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    missing = sorted(str(p) for p in data if not any(p.match(pattern) for pattern in patterns))
    assert missing == [], f"add to [tool.setuptools.package-data]: {missing}"
