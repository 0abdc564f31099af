"""The users' docker-compose stack, checked without a Docker engine.

docker-compose.yml must pass Debian's docker-compose 1.29 (`config`) and the current Compose
Specification schema (vendored, see tests/data/README.md); publish ports on 127.0.0.1 only; take
every image from .env, pinned; start in a health-gated order with memory limits and named volumes;
and mount configurations that promtool (2.42) accepts (tests/test_alerts.py checks the
Alertmanager configuration with amtool 0.25). docker-compose, promtool
and amtool are the Debian packages `make test` installs: a missing one fails, never skips.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_FILE = ROOT / ".env"
COMPOSE_SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
PROMETHEUS_CONFIG = ROOT / "alerts" / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "alerts" / "alertmanager.yml"
DATASOURCES = ROOT / "dashboards" / "provisioning" / "datasources.yaml"
DASHBOARD_PROVIDERS = ROOT / "dashboards" / "provisioning" / "dashboards.yaml"
TEMPO_CONFIG = ROOT / "collector" / "backends" / "tempo.yaml"
LOKI_CONFIG = ROOT / "collector" / "backends" / "loki.yaml"
BUILDER_MANIFEST = ROOT / "collector" / "builder-config.yaml"

TEST_PASSWORD = "test-only-grafana-password"
# The one-shot service that prepares volumes; everything else runs until stopped.
INIT = "init"
# Images without a shell or an HTTP client: their probe is the static busybox `init` installs.
PROBED_WITH_BUSYBOX = {"otel-collector", "tempo"}
PROBE = "/opt/probe/busybox"
SECRETS_DIR = "/etc/alertmanager/secrets"

Services = dict[str, dict[str, Any]]


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """Only PATH and a scratch HOME, so neither the developer's variables nor their Docker config count."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **extra}


def _compose_config(home: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    return _run(
        [require_tool("docker-compose"), "-f", COMPOSE_FILE.name, "config", *flags], _clean_env(home, **env)
    )


def _env_file() -> dict[str, str]:
    values = {}
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    entries = service.get("environment", {})
    if isinstance(entries, dict):
        return {key: None if value is None else str(value) for key, value in entries.items()}
    return {key: (value if sep else None) for key, sep, value in (e.partition("=") for e in entries)}


def _mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) for each volume entry in short syntax."""
    mounts = []
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        mounts.append((source, target, mode == ["ro"]))
    return mounts


def _host_ip(port: str | dict[str, Any]) -> str | None:
    """The host address a port is published on, None when it is every interface."""
    if isinstance(port, dict):
        return port.get("host_ip")
    parts = port.split("/")[0].split(":")
    return parts[0] if len(parts) == 3 else None


def _memory_bytes(limit: str | int) -> int:
    number, unit = re.fullmatch(r"(\d+)([bkmg]?)", str(limit).lower()).groups()
    return int(number) * 1024 ** "bkmg".index(unit or "b")


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def _healthcheck_command(service: dict[str, Any]) -> list[str]:
    test = service.get("healthcheck", {}).get("test", ["NONE"])
    return test if isinstance(test, list) else ["CMD-SHELL", test]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> Services:
    return compose["services"]


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The file as docker-compose 1.29 resolves it (.env and the password interpolated)."""
    result = _compose_config(tmp_path_factory.mktemp("home"), GRAFANA_ADMIN_PASSWORD=TEST_PASSWORD)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


# --- docker-compose 1.29 and the Compose Specification -------------------------------------------


def test_docker_compose_v1_accepts_the_file_with_only_the_grafana_password_set(tmp_path: Path) -> None:
    result = _compose_config(tmp_path, "-q", GRAFANA_ADMIN_PASSWORD=TEST_PASSWORD)
    assert result.returncode == 0, result.stderr
    # An unset variable is only a warning in 1.29; here it would mean something missing from .env.
    assert "WARNING" not in result.stderr, result.stderr


def test_docker_compose_refuses_to_run_without_the_grafana_admin_password(tmp_path: Path) -> None:
    result = _compose_config(tmp_path, "-q")
    assert result.returncode != 0
    assert "set GRAFANA_ADMIN_PASSWORD" in result.stderr, result.stderr


def test_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any], resolved: dict[str, Any]
) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    # The schema refuses unknown keys, so a key only docker-compose 1.29 knows would show here.
    assert not validator.is_valid({"services": {"app": {"image": "app:1", "no_such_key": True}}})
    for document in (compose, resolved):
        errors = [
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)
        ]
        assert errors == []


# --- Images, ports, limits, volumes ------------------------------------------------------------


def test_every_image_comes_from_env_file_and_is_pinned(services: Services) -> None:
    env = _env_file()
    used = set()
    for name, service in services.items():
        match = re.fullmatch(r"\$\{([A-Z0-9_]+)\}", service["image"])
        assert match, f"{name}: image must be a variable from .env, not {service['image']!r}"
        variable = match.group(1)
        assert variable in env, f"{name}: {variable} is not in .env"
        repository, _, tag = env[variable].rpartition(":")
        assert repository and "/" not in tag, f"{variable}={env[variable]} has no tag"
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), (
            f"{variable}={env[variable]} is not a pinned version"
        )
        used.add(variable)
    assert used == {key for key in env if key.endswith("_IMAGE")}, "an image variable in .env is unused"


def test_collector_image_is_the_builder_manifest_release() -> None:
    version = _load(BUILDER_MANIFEST)["dist"]["version"]
    assert _env_file()["COLLECTOR_IMAGE"] == f"otel/opentelemetry-collector-contrib:{version}"


def test_every_published_port_is_bound_to_loopback(services: Services) -> None:
    published = {name: service.get("ports", []) for name, service in services.items()}
    assert any(published.values())
    for name, ports in published.items():
        for port in ports:
            assert _host_ip(port) == "127.0.0.1", f"{name}: {port} is not bound to 127.0.0.1"
        assert services[name].get("network_mode") != "host", name


def test_every_service_has_a_memory_limit(services: Services) -> None:
    for name, service in services.items():
        assert "mem_limit" in service, name
        assert _memory_bytes(service["mem_limit"]) >= 16 * 1024**2, name


def test_state_lives_in_named_volumes_and_bind_mounts_name_repository_files(
    compose: dict[str, Any], services: Services
) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, service in services.items():
        for source, _, read_only in _mounts(service):
            if source.startswith("./"):
                # Configuration only, never written by the container. secrets/ is the user's.
                assert read_only, f"{name}: bind mount {source} must be read-only"
                assert source == "./secrets" or (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: {source} is neither ./path nor a declared volume"
                used.add(source)
    assert used == declared


# --- Start-up order, health and restarts ---------------------------------------------------------


def test_long_running_services_have_a_healthcheck_and_a_restart_policy(services: Services) -> None:
    for name, service in services.items():
        if name == INIT:
            assert service["restart"] == "no"
            continue
        command = _healthcheck_command(service)
        assert command[0] == "CMD" and len(command) > 1, f"{name}: no exec-form healthcheck"
        assert service["restart"] == "unless-stopped", name
        for key in ("interval", "timeout", "retries", "start_period"):
            assert key in service["healthcheck"], f"{name}: healthcheck has no {key}"


def test_shell_less_images_are_probed_with_the_busybox_init_installs(services: Services) -> None:
    init_targets = {target: source for source, target, _ in _mounts(services[INIT])}
    probe_volume = init_targets[str(Path(PROBE).parent)]
    for name in PROBED_WITH_BUSYBOX:
        assert _healthcheck_command(services[name])[1] == PROBE, name
        assert (probe_volume, str(Path(PROBE).parent), True) in _mounts(services[name]), name
        assert services[name]["depends_on"][INIT] == {"condition": "service_completed_successfully"}, name


def test_depends_on_always_names_a_condition_the_dependency_can_meet(services: Services) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must name conditions"
        for dependency, options in depends_on.items():
            condition = options["condition"]
            target = services[dependency]
            if condition == "service_healthy":
                assert _healthcheck_command(target)[0] == "CMD", f"{name} waits on {dependency}'s health"
            elif condition == "service_completed_successfully":
                assert target["restart"] == "no", f"{name} waits for {dependency} to exit"
            else:
                assert condition == "service_started", f"{name}: {condition}"


def test_services_writing_as_uid_10001_wait_for_init_to_own_their_volume(services: Services) -> None:
    init = services[INIT]
    assert "chown 10001:10001" in " ".join(init["command"])
    prepared = {source for source, _, _ in _mounts(init)}
    for name in ("otel-collector", "tempo", "loki"):
        data_volumes = {source for source, _, read_only in _mounts(services[name]) if not read_only}
        assert data_volumes and data_volumes <= prepared, name
        assert services[name]["depends_on"][INIT] == {"condition": "service_completed_successfully"}, name


# --- Collector, Prometheus, Grafana wiring ------------------------------------------------------


def test_collector_loads_base_and_extras_config_and_persists_queues(services: Services) -> None:
    collector = services["otel-collector"]
    configs = [arg.removeprefix("--config=") for arg in collector["command"]]
    assert configs == ["/etc/otelcol/config.yaml", "/etc/otelcol/config-extras.yaml"]
    mounts = {target: source for source, target, _ in _mounts(collector)}
    assert [mounts[c] for c in configs] == ["./collector/config.yaml", "./collector/config-extras.yaml"]
    env = _environment(collector)
    assert not mounts[env["COLLECTOR_STORAGE_DIR"]].startswith("./"), "queue storage must be a named volume"
    assert env["PROMETHEUS_REMOTE_WRITE_URL"] == "http://prometheus:9090/api/v1/write"
    assert env["TEMPO_OTLP_ENDPOINT"] == "tempo:4317"
    assert env["LOKI_OTLP_ENDPOINT"] == "http://loki:3100/otlp"


def test_prometheus_receives_remote_write_and_exemplars_and_loads_the_repository_rules(
    services: Services,
) -> None:
    prometheus = services["prometheus"]
    assert {"--web.enable-remote-write-receiver", "--enable-feature=exemplar-storage"} <= set(
        prometheus["command"]
    )
    mounts = {source: target for source, target, _ in _mounts(prometheus)}
    config_target = mounts["./alerts/prometheus.yml"]
    assert f"--config.file={config_target}" in prometheus["command"]
    # rule_files are relative to the config file, in the repository and in the container alike.
    for pattern in _load(PROMETHEUS_CONFIG)["rule_files"]:
        rules_dir = Path(pattern).parent
        assert mounts[f"./alerts/{rules_dir}"] == str(Path(config_target).parent / rules_dir)
        assert list((ROOT / "alerts").glob(pattern)), f"{pattern} matches no rule file"


def test_grafana_admin_password_is_required_from_the_environment_and_anonymous_access_is_off(
    services: Services,
) -> None:
    env = _environment(services["grafana"])
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert "GRAFANA_ADMIN_PASSWORD" not in _env_file()


def test_grafana_datasources_have_fixed_uids_and_link_metrics_traces_and_logs() -> None:
    text = DATASOURCES.read_text()
    provisioning = yaml.safe_load(text)
    # Grafana expands $NAME and ${NAME} in provisioning files: a literal `$` must be `$$`.
    assert [s for s in _strings(provisioning) if "$" in s.replace("$$", "")] == []
    sources = {source["uid"]: source for source in provisioning["datasources"]}
    assert {uid: source["type"] for uid, source in sources.items()} == {
        "prometheus": "prometheus",
        "tempo": "tempo",
        "loki": "loki",
    }
    prometheus, tempo = sources["prometheus"]["jsonData"], sources["tempo"]["jsonData"]
    assert {"name": "trace_id", "datasourceUid": "tempo"} in prometheus["exemplarTraceIdDestinations"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert tempo["tracesToMetrics"]["datasourceUid"] == "prometheus"
    linked = set(re.findall(r"datasourceUid:\s*(\S+)", text))
    assert linked <= set(sources), f"links to unknown datasources: {linked - set(sources)}"


def test_grafana_loads_dashboards_from_the_mounted_json_directory(services: Services) -> None:
    mounts = {source: target for source, target, _ in _mounts(services["grafana"])}
    (provider,) = _load(DASHBOARD_PROVIDERS)["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == mounts["./dashboards/json"]
    assert (ROOT / "dashboards" / "json").is_dir()


def _datasources_used(node: Any, found: set[tuple[str | None, str | None]]) -> None:
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict):
            found.add((source.get("type"), source.get("uid")))
        for value in node.values():
            _datasources_used(value, found)
    elif isinstance(node, list):
        for value in node:
            _datasources_used(value, found)


def test_every_datasource_the_dashboards_use_is_provisioned() -> None:
    """Grafana cannot run here: check statically that each dashboard's panels, targets and
    variables name a provisioned datasource uid (or the $datasource variable, which offers the
    provisioned datasources of its type, or Grafana's built-in annotation source)."""
    provisioned = {source["uid"]: source["type"] for source in _load(DATASOURCES)["datasources"]}
    dashboards = sorted((ROOT / "dashboards" / "json").glob("*.json"))
    assert len(dashboards) == 6
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] in provisioned.values()
        used: set[tuple[str | None, str | None]] = set()
        _datasources_used(dashboard, used)
        for kind, uid in used:
            if uid == "${datasource}":
                assert kind == variables["datasource"]["query"], (path.name, kind)
            elif kind == "grafana":
                assert uid == "-- Grafana --", (path.name, uid)
            else:
                assert provisioned.get(uid) == kind, (
                    f"{path.name}: datasource {kind}/{uid} is not provisioned"
                )


def test_alertmanager_loads_the_notification_templates_from_the_mount(services: Services) -> None:
    """The config names its templates relative to itself; the container must see those files."""
    mounts = {target: source for source, target, _ in _mounts(services["alertmanager"])}
    config_dir = Path("/etc/alertmanager")
    assert mounts[str(config_dir / "alertmanager.yml")] == "./alerts/alertmanager.yml"
    for pattern in _load(ALERTMANAGER_CONFIG)["templates"]:
        target = config_dir / pattern
        source = mounts.get(str(target.parent))
        assert source is not None, f"{pattern}: nothing is mounted at {target.parent}"
        assert list((ROOT / source).glob(target.name)), f"{pattern}: no template files in {source}"


def test_tempo_and_loki_listen_where_the_collector_sends_and_keep_data_on_their_volumes(
    services: Services,
) -> None:
    tempo, loki = _load(TEMPO_CONFIG), _load(LOKI_CONFIG)
    env = _environment(services["otel-collector"])
    assert tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert env["TEMPO_OTLP_ENDPOINT"].endswith(":4317")
    assert env["LOKI_OTLP_ENDPOINT"].startswith(f"http://loki:{loki['server']['http_listen_port']}/")
    assert tempo["storage"]["trace"]["backend"] == "local"
    assert loki["limits_config"]["allow_structured_metadata"] is True
    assert loki["limits_config"]["retention_period"] and loki["compactor"]["retention_enabled"] is True
    for name, config, data_paths in (
        (
            "tempo",
            TEMPO_CONFIG,
            [tempo["storage"]["trace"]["wal"]["path"], tempo["storage"]["trace"]["local"]["path"]],
        ),
        ("loki", LOKI_CONFIG, [loki["common"]["path_prefix"]]),
    ):
        service = services[name]
        mounts = {source: target for source, target, _ in _mounts(service)}
        assert f"-config.file={mounts['./' + str(config.relative_to(ROOT))]}" in service["command"]
        volume_targets = [target for source, target in mounts.items() if not source.startswith("./")]
        for path in data_paths:
            assert any(path.startswith(target) for target in volume_targets), (
                f"{name}: {path} is not on a volume"
            )


# --- promtool and amtool --------------------------------------------------------------------------


def test_promtool_accepts_the_prometheus_config_and_its_rules() -> None:
    result = _run([require_tool("promtool"), "check", "config", str(PROMETHEUS_CONFIG.relative_to(ROOT))])
    assert result.returncode == 0, result.stdout + result.stderr
    for rule_file in (ROOT / "alerts" / "rules").glob("*.yml"):
        assert f"Checking {rule_file.relative_to(ROOT)}" in result.stdout


def test_alertmanager_secrets_are_read_from_the_git_ignored_secrets_directory(services: Services) -> None:
    assert ("./secrets", SECRETS_DIR, True) in _mounts(services["alertmanager"])
    config = _load(ALERTMANAGER_CONFIG)
    inline_secrets = {"api_url", "routing_key", "service_key", "auth_password", "auth_secret", "password"}
    files = []
    for receiver in config["receivers"]:
        for kind, entries in receiver.items():
            for entry in entries if kind.endswith("_configs") else []:
                assert not inline_secrets & set(entry), f"{receiver['name']}: a secret written inline"
                files += [value for key, value in entry.items() if key.endswith("_file")]
    assert files and all(path.startswith(f"{SECRETS_DIR}/") for path in files)
    assert not {key for key in config.get("global", {}) if key in inline_secrets or key.endswith("_api_url")}
    for path in files:
        ignored = _run(["git", "check-ignore", "-q", f"secrets/{Path(path).name}"])
        assert ignored.returncode == 0, "secrets/ must be in .gitignore"
