"""docker-compose.yml and deploy/: the services the product needs are there and wired to each other
(ports, dependencies, the worker's config and secrets, Prometheus ↔ worker metrics port, mounted files,
alert rules and the dashboard naming only metrics ops/metrics.py defines). Static: no Docker needed."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.metrics import documented_metrics
from workflows.search_attributes import SEARCH_ATTRIBUTES

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
EXAMPLE = REPO / "recon.example.toml"
# Files the operator makes from an example (README "Running it for real"): not in the repository.
OPERATOR_FILES = {"recon.toml": "recon.example.toml"}
NEEDED = ["postgresql", "temporal", "temporal-setup", "temporal-ui", "worker", "prometheus", "grafana"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} / ${VAR-default} / ${VAR:?err} / ${VAR}, as with an empty environment
    (defaults taken, required variables replaced by a placeholder); $$ is a literal $."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        if op in (":-", "-"):
            return arg
        return f"<{name}>"

    value = value.replace("$$", "\0")
    value = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|-|:\?|\?)([^}]*))?\}", one, value)
    return value.replace("\0", "$")


def env_references(value: str) -> set[str]:
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", value))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def port_mappings(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host, container) pairs of a service's published ports."""
    out = []
    for p in service.get("ports") or []:
        if isinstance(p, dict):
            out.append((int(p["published"]), int(p["target"])))
            continue
        parts = interpolate(str(p)).split("/")[0].split(":")
        container = int(parts[-1])
        host = int(parts[-2]) if len(parts) >= 2 else container
        out.append((host, container))
    return out


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of a service's bind mounts (named volumes left out)."""
    out = []
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            if v.get("type") == "bind":
                out.append((v["source"], v["target"]))
            continue
        parts = interpolate(str(v)).split(":")
        if len(parts) >= 2 and parts[0].startswith((".", "/")):
            out.append((parts[0], parts[1]))
    return out


def in_mount(path: str, mounts: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The mount that makes container `path` visible, and the host path it maps to."""
    for host, target in mounts:
        target = target.rstrip("/")
        if path == target or path.startswith(target + "/"):
            return host, path[len(target) :].lstrip("/")
    return None


def command_list(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


# --- services and wiring ---------------------------------------------------------------------------


def test_every_needed_service_exists(services: dict[str, dict[str, Any]]) -> None:
    missing = [s for s in NEEDED if s not in services]
    assert not missing, f"docker-compose.yml lacks {missing}"


def test_temporal_setup_registers_every_search_attribute_the_workflows_set(
    services: dict[str, dict[str, Any]],
) -> None:
    setup = " ".join(
        [*command_list(services["temporal-setup"]), str(services["temporal-setup"].get("entrypoint"))]
    )
    wanted = {"ReconAccount", "CaseType", "CaseState", "Sku"} | {k.name for k in SEARCH_ATTRIBUTES}
    assert "search-attribute create" in setup
    for name in sorted(wanted):
        assert re.search(rf"\b{name}\b", setup), f"temporal-setup does not register {name}"


def test_published_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[int, str] = {}
    for name, service in services.items():
        for host, _ in port_mappings(service):
            assert host not in seen, f"host port {host} published by both {seen[host]} and {name}"
            seen[host] = name
    assert seen, "no published ports at all"


def test_depends_on_names_existing_services(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        deps = service.get("depends_on") or []
        for dep in deps if isinstance(deps, list) else deps.keys():
            assert dep in services, f"{name} depends on {dep!r}, which is not a service"
            assert dep != name


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for v in service.get("volumes") or []:
            source = str(v).split(":")[0] if not isinstance(v, dict) else v.get("source", "")
            if source and not source.startswith((".", "/", "$")):
                assert source in declared, f"{name} uses volume {source!r}, not declared at the top level"


# --- the worker --------------------------------------------------------------------------------------


def test_worker_runs_worker_py_with_a_mounted_config(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    cmd = command_list(worker)
    assert "worker.py" in cmd
    config = cmd[cmd.index("--config") + 1] if "--config" in cmd else environment(worker).get("RECON_CONFIG")
    assert config, "the worker gets no config path"
    mount = in_mount(config, bind_mounts(worker))
    assert mount is not None, f"{config} is not mounted into the worker"
    host, _ = mount
    name = Path(host).name
    assert (REPO / host).exists() or (REPO / OPERATOR_FILES.get(name, name)).exists()


def test_files_the_config_names_relative_to_itself_are_mounted_beside_it(
    services: dict[str, dict[str, Any]], example: dict[str, Any]
) -> None:
    """sku_map_csv (and secrets_file) are read relative to recon.toml: they must be there in the container."""
    worker = services["worker"]
    cmd = command_list(worker)
    config_dir = Path(cmd[cmd.index("--config") + 1]).parent
    relative = [a["sku_map_csv"] for a in example["accounts"] if "sku_map_csv" in a]
    if isinstance(example.get("secrets_file"), str):
        relative.append(example["secrets_file"])
    for rel in relative:
        if Path(rel).is_absolute():
            continue
        assert in_mount(str(config_dir / rel), bind_mounts(worker)), f"{rel} is not mounted beside the config"


def _env_names_declared(example: dict[str, Any]) -> set[str]:
    """Every environment variable name recon.example.toml declares (values of *_env keys)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k.endswith("_env") and isinstance(v, str):
                    names.add(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(example)
    return names


def test_worker_secrets_match_the_variables_the_config_names(
    services: dict[str, dict[str, Any]], example: dict[str, Any]
) -> None:
    declared = _env_names_declared(example)
    assert {"SHOPIFY_MAIN_ACCESS_TOKEN", "SP_API_REFRESH_TOKEN_US"} <= declared  # the walk works
    env = environment(services["worker"])
    secrets = {k for k in env if not k.startswith("RECON_")}
    assert declared - secrets == set(), "variables recon.example.toml names that the worker is not given"
    assert secrets - declared == set(), "worker variables recon.example.toml does not name"
    for name in secrets:  # each passed through from the host environment under its own name
        assert env_references(env[name]) == {name}, f"{name}: {env[name]!r}"


def test_worker_settings_from_the_environment_are_settings_fields(
    services: dict[str, dict[str, Any]],
) -> None:
    from reconciler.config import Settings, TemporalConfig

    for key in environment(services["worker"]):
        if not key.startswith("RECON_"):
            continue
        path = key.removeprefix("RECON_").lower().split("__")
        assert path[0] in Settings.model_fields, key
        if len(path) > 1:
            assert path[0] == "temporal" and path[1] in TemporalConfig.model_fields, key


# --- monitoring ----------------------------------------------------------------------------------------


def _metrics_port(worker: dict[str, Any]) -> int:
    from reconciler.config import Settings

    value = environment(worker).get("RECON_METRICS_PORT")
    return int(value) if value else int(Settings.model_fields["metrics_port"].default)


def test_worker_publishes_its_metrics_port(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    port = _metrics_port(worker)
    exposed = {c for _, c in port_mappings(worker)} | {int(p) for p in worker.get("expose") or []}
    assert port in exposed


def test_prometheus_scrapes_the_worker_service_on_its_metrics_port(
    services: dict[str, dict[str, Any]],
) -> None:
    prom = services["prometheus"]
    mount = in_mount("/etc/prometheus/prometheus.yml", bind_mounts(prom))
    assert mount is not None, "prometheus.yml is not mounted where Prometheus reads it"
    config = yaml.safe_load((REPO / mount[0]).read_text())
    targets = {
        t for job in config["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]
    }
    assert f"worker:{_metrics_port(services['worker'])}" in targets
    # its rule files are mounted too
    for rule_file in config.get("rule_files", []):
        assert in_mount(rule_file, bind_mounts(prom)), f"{rule_file} is not mounted into prometheus"


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services["grafana"]
    mounts = bind_mounts(grafana)
    prov = in_mount("/etc/grafana/provisioning", mounts)
    assert prov is not None
    (datasource,) = yaml.safe_load((REPO / prov[0] / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == f"http://prometheus:{port_mappings(services['prometheus'])[0][1]}"
    (provider,) = yaml.safe_load((REPO / prov[0] / "dashboards" / "recon.yml").read_text())["providers"]
    dashboards = in_mount(provider["options"]["path"], mounts)
    assert dashboards is not None and (REPO / dashboards[0] / "recon.json").exists()
    uids = {
        p["datasource"]["uid"]
        for p in json.loads((REPO / dashboards[0] / "recon.json").read_text())["panels"]
        if "datasource" in p
    }
    assert uids == {datasource["uid"]}


def test_every_mounted_file_exists_in_the_repo(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for host, _ in bind_mounts(service):
            if host.startswith("/"):
                continue
            rel = Path(host)
            if rel.name in OPERATOR_FILES:
                rel = rel.with_name(OPERATOR_FILES[rel.name])
            assert (REPO / rel).exists(), f"{name} mounts {host}, which is not in the repository"


# --- alert rules and dashboard name only defined metrics --------------------------------------------------

PROMQL_WORDS = {
    # functions and aggregations used (followed by "(" anyway), operators, keywords
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "time", "sum", "min", "max", "avg", "count", "rate", "increase", "absent", "clamp_min", "topk",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", expr
    )  # label lists
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = m.group(0)
        if expr[m.end() :].lstrip().startswith("("):
            continue  # a function
        if word in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", word) or word.startswith("$"):
            continue
        names.add(word)
    return names


def test_metric_names_helper() -> None:
    assert metric_names('time() - max by (account) (recon_x{a="b"}) > 2 * 3600') == {"recon_x"}
    assert metric_names("a unless on (account) b") == {"a", "b"}
    assert metric_names('increase(recon_y_total{result="failed"}[1h]) > 0') == {"recon_y_total"}


def allowed_metrics() -> set[str]:
    documented = documented_metrics()
    assert len(documented) > 20
    return documented | {"up"}


def test_alert_rules_parse_and_use_only_defined_metrics(services: dict[str, dict[str, Any]]) -> None:
    mount = in_mount("/etc/prometheus/alerts.yml", bind_mounts(services["prometheus"]))
    assert mount is not None
    rules = [r for g in yaml.safe_load((REPO / mount[0]).read_text())["groups"] for r in g["rules"]]
    alerts = {r["alert"] for r in rules}
    for wanted in (
        "ReconSyncStale",
        "ReconWorkerDown",
        "ReconWorkerAbsent",
        "ReconCyclesFailing",
        "ReconClaimsDue",
        "ReconHoldsPendingTooLong",
        "ReconQuarantinedRows",
        "ReconThrottlesRising",
    ):
        assert wanted in alerts
    allowed = allowed_metrics()
    for r in rules:
        assert r["expr"].count("(") == r["expr"].count(")"), r["alert"]
        names = metric_names(r["expr"])
        assert names, r["alert"]
        assert names <= allowed, f"{r['alert']}: unknown metric(s) {sorted(names - allowed)}"


def test_dashboard_uses_only_defined_metrics() -> None:
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/recon.json").read_text())
    allowed = allowed_metrics()
    used: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            names = metric_names(target["expr"])
            assert names <= allowed, f"{panel['title']}: unknown metric(s) {sorted(names - allowed)}"
            used |= names
    for var in dashboard["templating"]["list"]:
        used |= {n for n in re.findall(r"\((\w+)", var["query"]["query"]) if n.startswith("recon_")}
    # the figures the brief asks for each have a panel
    for wanted in (
        "recon_last_successful_sync_timestamp_seconds",
        "recon_stream_rows_ingested_total",
        "recon_effects",
        "recon_skus_adjusted",
        "recon_effects_applied_units_total",
        "recon_holds_open",
        "recon_cases_open",
        "recon_claims_due",
        "recon_quarantined_rows",
        "recon_alerts_last_24h",
        "recon_api_requests_total",
        "recon_api_throttles_total",
    ):
        assert wanted in used, f"no dashboard panel shows {wanted}"
