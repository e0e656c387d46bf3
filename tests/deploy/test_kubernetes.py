"""The kustomize base and the dbaas overlay: rendered with `kubectl kustomize`, every
object validated against the Kubernetes schemas (offline, kubernetes-validate), the
ServiceMonitor by hand, and the ConfigMap's config run through `sluice check` with the
Deployment's replicas and stop budget."""

import copy
import tomllib

import kubernetes_validate
import pytest
import yaml

from conftest import BASE, OVERLAY, find, kustomize, materialize, sluice_check

# The oldest Kubernetes the manifests need (the preStop sleep action is on by default
# from 1.30), and the newest schemas kubernetes-validate ships.
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]


@pytest.fixture(scope="module")
def overlay():
    return kustomize(OVERLAY)


@pytest.fixture(scope="module")
def deployment(overlay):
    return find(overlay, "Deployment", "sluice")


def validate(obj, version):
    """Schema validation; the ServiceMonitor (a CRD the schemas do not have) by hand."""
    if obj["kind"] == "ServiceMonitor":
        check_service_monitor(obj)
        return
    kubernetes_validate.validate(obj, version, strict=True)


def check_service_monitor(obj):
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    assert obj["metadata"].get("name")
    spec = obj["spec"]
    assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}, spec
    assert isinstance(spec["selector"].get("matchLabels"), dict), "spec.selector is required"
    assert spec["endpoints"], "spec.endpoints is required"
    for ep in spec["endpoints"]:
        assert set(ep) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}, ep
        assert isinstance(ep.get("port"), str), "an endpoint names a Service port"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", [BASE, OVERLAY], ids=["base", "overlay"])
def test_rendered_objects_match_the_kubernetes_schemas(path, version):
    objects = kustomize(path)
    assert objects
    for obj in objects:
        try:
            validate(obj, version)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} (Kubernetes {version}): {e}")


def test_validation_refuses_a_broken_object(deployment, overlay):
    """The validation above can fail: a misspelt field and a ServiceMonitor without
    endpoints are refused."""
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProb"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken, VERSIONS[0])
    monitor = copy.deepcopy(find(overlay, "ServiceMonitor", "sluice"))
    del monitor["spec"]["endpoints"]
    with pytest.raises((AssertionError, KeyError)):
        check_service_monitor(monitor)


def test_every_object_is_in_the_namespace(overlay):
    for obj in overlay:
        assert obj["metadata"].get("namespace") == "dbaas", obj["metadata"]


def container(deployment):
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def test_deployment_shape(deployment):
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    c = container(deployment)
    assert spec["replicas"] == 3
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in ports
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert "preStop" in c["lifecycle"]
    assert pod["terminationGracePeriodSeconds"] > 0
    # The overlay's images entry reaches the container.
    with open(OVERLAY / "kustomization.yaml", encoding="utf-8") as f:
        (image,) = yaml.safe_load(f)["images"]
    assert c["image"] == f"{image['newName']}:{image['newTag']}"


def test_config_and_users_are_directories(deployment, overlay):
    """ConfigMap and Secrets are mounted as directories (no subPath), so that their
    updates reach the running pods."""
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container(deployment)["volumeMounts"]}
    for m in mounts.values():
        assert "subPath" not in m, m
        assert m["name"] in volumes, m
    config = volumes[mounts["/etc/sluice/config"]["name"]]
    assert config["configMap"]["name"] == "sluice"
    find(overlay, "ConfigMap", "sluice")
    users = volumes[mounts["/etc/sluice/users"]["name"]]
    assert users["secret"]["secretName"] == "sluice-users"
    assert pod["serviceAccountName"] == "sluice"
    find(overlay, "ServiceAccount", "sluice")


def service_ports(overlay, name):
    svc = find(overlay, "Service", name)
    return svc, {p["port"]: p["targetPort"] for p in svc["spec"]["ports"]}


def test_services_keep_the_cluster_names(overlay, deployment):
    names = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for svc in (o for o in overlay if o["kind"] == "Service"):
        for key, value in svc["spec"]["selector"].items():
            assert labels.get(key) == value, svc["metadata"]["name"]
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in names, (svc["metadata"]["name"], port)
    _, pgbouncer = service_ports(overlay, "pgbouncer")
    assert names[pgbouncer[5432]] == names[pgbouncer[6432]] == 6432
    _, mysql = service_ports(overlay, "mysql")
    assert names[mysql[3306]] == 6446
    peers, ports = service_ports(overlay, "sluice-peers")
    assert peers["spec"]["clusterIP"] == "None"
    assert peers["spec"]["publishNotReadyAddresses"] is True
    assert names[ports[6400]] == 6400
    find(overlay, "PodDisruptionBudget", "sluice")
    monitor = find(overlay, "ServiceMonitor", "sluice")
    metrics = [
        s for s in overlay
        if s["kind"] == "Service"
        and all(s["metadata"].get("labels", {}).get(k) == v
                for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    ]
    assert len(metrics) == 1
    assert {p["name"] for p in metrics[0]["spec"]["ports"]} >= {
        e["port"] for e in monitor["spec"]["endpoints"]
    }


def test_network_policy(overlay, deployment):
    policy = find(overlay, "NetworkPolicy", "sluice")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    inbound = {p["port"] for rule in spec["ingress"] for p in rule["ports"]}
    assert {6432, 6446, 6447, 9127, 6400} <= inbound
    outbound = {(p["protocol"], p["port"]) for rule in spec["egress"] for p in rule["ports"]}
    # PostgreSQL, MySQL, Vault, DNS, peers.
    assert {("TCP", 5432), ("TCP", 3306), ("TCP", 8200), ("UDP", 53), ("TCP", 6400)} <= outbound


def stop_budget(deployment):
    pod = deployment["spec"]["template"]["spec"]
    return (
        deployment["spec"]["replicas"],
        container(deployment)["lifecycle"]["preStop"]["sleep"]["seconds"],
        pod["terminationGracePeriodSeconds"],
    )


def overlay_config(overlay):
    data = find(overlay, "ConfigMap", "sluice")["data"]
    return data["sluice.toml"], data["hba.conf"]


def test_configmap_config_passes_sluice_check(overlay, deployment, tmp_path):
    config_text, hba = overlay_config(overlay)
    path = materialize(config_text, hba, tmp_path)
    replicas, pre_stop, grace = stop_budget(deployment)
    status, stderr = sluice_check(
        path, "--replicas", replicas, "--pre-stop", pre_stop,
        "--termination-grace-period", grace,
    )
    assert status == 0, stderr
    assert "warning" not in stderr, stderr
    # Every mount the config names is a volume of the Deployment.
    mounts = {m["mountPath"] for m in container(deployment)["volumeMounts"]}
    for line in config_text.splitlines():
        if "/etc/sluice/" in line:
            directory = "/etc/sluice/" + line.split("/etc/sluice/")[1].split("/")[0]
            assert directory in mounts, line


def test_sluice_check_sees_a_stop_budget_that_does_not_fit(overlay, deployment, tmp_path):
    """The check above can fail: a grace period shorter than the stop is a warning."""
    config_text, hba = overlay_config(overlay)
    path = materialize(config_text, hba, tmp_path)
    replicas, pre_stop, _ = stop_budget(deployment)
    status, stderr = sluice_check(
        path, "--replicas", replicas, "--pre-stop", pre_stop, "--termination-grace-period", 20
    )
    assert status == 0 and "warning" in stderr, stderr


def test_workers_match_the_cpu_limit(overlay, deployment):
    config = tomllib.loads(overlay_config(overlay)[0])
    limit = container(deployment)["resources"]["limits"]["cpu"]
    cores = int(limit[:-1]) / 1000 if limit.endswith("m") else float(limit)
    assert config["runtime"]["workers"] == cores, (config["runtime"], limit)
