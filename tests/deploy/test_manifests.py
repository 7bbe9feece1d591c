"""deploy/kubernetes and deploy/systemd are checked statically (issue 30, item 6): every manifest
validates against Kubernetes' own schema (kubernetes-validate, strict: an unknown field fails),
every command is a real CLI command, every variable a real setting, every HTTP probe a real
route; workers cover every queue, drain before they are killed, and a schema refused is not
restarted. systemd units use known directives only and point at units that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from orchestrator.api.app import create_app
from orchestrator.config import Settings
from orchestrator.errors import EXIT_SCHEMA
from orchestrator.routing import QUEUES
from orchestrator.worker.runtime import Runtime
from tests.deploy.test_compose import entrypoint, resolve, setting_for
from tests.support.server import serve_app

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
SYSTEMD = ROOT / "deploy" / "systemd"
KUBERNETES_VERSION = "1.30"  # the oldest with the preStop sleep action the API uses
DRAIN_DEFAULT = Settings.model_fields["worker_drain_seconds"].default


def manifests() -> list[dict[str, Any]]:
    docs = [doc for path in sorted(KUBERNETES.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]
    assert docs
    return [doc for doc in docs if doc]


def pods() -> dict[str, dict[str, Any]]:
    """Each Deployment's or Job's pod spec by the workload's name."""
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]["spec"]
        for doc in manifests()
        if "template" in doc.get("spec", {})
    }


def settings_map() -> dict[str, str]:
    [config] = [doc for doc in manifests() if doc["kind"] == "ConfigMap"]
    data: dict[str, str] = config["data"]
    return data


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_validates_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _orchestrator_commands(spec: dict[str, Any]) -> list[list[str]]:
    commands = []
    for container in spec["containers"]:
        commands.append(container["args"])
        for probe in ("livenessProbe", "readinessProbe"):
            command = container.get(probe, {}).get("exec", {}).get("command")
            if command:
                commands.append(command)
        hook = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
        if hook:
            commands.append(hook)
    return commands


def test_every_command_the_pods_run_is_a_cli_command() -> None:
    assert entrypoint() == ["orchestrator"]  # the image's; containers give only args
    queues: set[str] = set()
    for name, spec in pods().items():
        for command in _orchestrator_commands(spec):
            args = command[1:] if command[0] == "orchestrator" else command
            ctx = resolve(args)
            if ctx.command.name == "worker":
                queues.update(ctx.params["queues"].split(","))
        assert spec["containers"][0]["args"][0] in {"serve", "worker", "scheduler", "db"}, name
    assert queues == set(QUEUES), "every queue needs a worker Deployment"


def test_every_variable_is_a_setting_and_every_secret_file_is_mounted() -> None:
    for variable in settings_map():
        setting_for(variable)
    for name, spec in pods().items():
        container = spec["containers"][0]
        for variable in container.get("env", []):
            setting_for(variable["name"])
        assert container["envFrom"] == [{"configMapRef": {"name": "orchestrator-settings"}}], name
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        for variable, value in settings_map().items():
            if variable.endswith("_FILE"):
                assert value.startswith(mounts["secrets"] + "/"), (
                    f"{name}: {variable} is not in the secret volume"
                )


def test_probes_point_at_real_routes_and_every_long_running_pod_has_both(runtime: Runtime) -> None:
    paths: set[str] = set()
    for name, spec in pods().items():
        container = spec["containers"][0]
        if container["args"][0] == "db":
            continue
        assert {"livenessProbe", "readinessProbe"} <= set(container), name
        for probe in (container["livenessProbe"], container["readinessProbe"]):
            if "httpGet" in probe:
                paths.add(probe["httpGet"]["path"])
        assert container["livenessProbe"].get("httpGet", {}).get("path") != "/readyz", (
            "a missing role is no restart"
        )
    assert paths == {"/livez", "/healthz"}
    with serve_app(create_app(runtime)) as base_url:  # asked as the kubelet asks: no token
        for path in paths:
            assert httpx.get(f"{base_url}{path}", timeout=10).status_code == 200, path


def test_every_container_requests_resources_and_workers_drain_before_they_are_killed() -> None:
    drain = float(settings_map().get("ORCH_WORKER_DRAIN_SECONDS", DRAIN_DEFAULT))
    for name, spec in pods().items():
        container = spec["containers"][0]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert "memory" in container["resources"]["limits"], name
        if container["args"][0] == "worker":
            assert container["lifecycle"]["preStop"]["exec"]["command"][:2] == ["orchestrator", "drain"], name
            assert spec["terminationGracePeriodSeconds"] >= drain + 10, name
        if container["args"][0] == "serve":
            assert "preStop" in container["lifecycle"], name


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as section -> key -> values (a key may repeat); comments and blanks skipped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if header := re.fullmatch(r"\[(\w+)\]", line):
            current = sections.setdefault(header[1], {})
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep and re.fullmatch(r"[A-Za-z]+", key), (
            f"{path.name}:{number}: {line!r}"
        )
        current.setdefault(key, []).append(value)
    return sections


_DIRECTIVES = {
    "Unit": {"Description", "After", "Wants", "PartOf"},
    "Service": {
        "Type", "ExecStart", "User", "Group", "EnvironmentFile", "StateDirectory", "StateDirectoryMode",
        "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ReadWritePaths",
        "CapabilityBoundingSet", "Restart", "RestartSec", "RestartPreventExitStatus", "KillSignal",
        "KillMode", "TimeoutStopSec", "RemainAfterExit",
    },
    "Install": {"WantedBy"},
}  # fmt: skip


def test_systemd_units_use_known_directives_real_commands_and_real_units() -> None:
    units = {path.name: _unit(path) for path in sorted(SYSTEMD.iterdir())}
    assert "orchestrator.target" in units
    queues: set[str] = set()
    for name, unit in units.items():
        for section, keys in unit.items():
            assert set(keys) <= _DIRECTIVES[section], (
                f"{name}: unknown {sorted(set(keys) - _DIRECTIVES[section])}"
            )
        named = [
            u for key in ("After", "Wants", "PartOf") for v in unit["Unit"].get(key, []) for u in v.split()
        ]
        named += unit.get("Install", {}).get("WantedBy", [])
        for other in named:
            assert not other.startswith("orchestrator") or other in units, f"{name}: no unit {other}"
        if "Service" not in unit:
            continue
        service = {key: values[-1] for key, values in unit["Service"].items()}
        binary, *args = service["ExecStart"].split()
        assert binary == "/opt/orchestrator/bin/orchestrator", name
        ctx = resolve(args)
        assert service["EnvironmentFile"] == "/etc/orchestrator/orchestrator.env"
        assert service["User"] == "orchestrator"
        if service["Type"] != "oneshot":
            assert service["RestartPreventExitStatus"] == str(EXIT_SCHEMA), name
        if ctx.command.name == "worker":
            queues.update(ctx.params["queues"].split(","))
            assert float(service["TimeoutStopSec"]) >= DRAIN_DEFAULT + 10, name
            assert service["KillMode"] == "mixed", (
                f"{name}: SIGTERM to the supervisor only, which drains its child"
            )
    assert queues == set(QUEUES)
    wanted = {u for v in units["orchestrator.target"]["Unit"]["Wants"] for u in v.split()}
    assert wanted == {n for n in units if n.endswith(".service")} - {"orchestrator-switch-mirror.service"}
