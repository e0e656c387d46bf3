"""deploy/terraform: every .tf parses (python-hcl2); the sluice-app module, evaluated
for the apps of the example root, names the cluster's Vault roles and policy paths; the
config deploy/terraform/sluice builds from them (its own locals evaluated: the wildcard
routes' allow lists and the routes written out) gives each app, once the wildcard route
is expanded, the same route as the dbaas overlay's config, and passes `sluice check`;
with one module block per route of the overlay it gives the overlay's config."""

import pathlib
import re
import tomllib

import hcl2
import pytest

from conftest import OVERLAY, ROOT, expand_routes, materialize, sluice_check, vault_role
from hcl_eval import evaluate

TERRAFORM = ROOT / "deploy" / "terraform"
MODULE = TERRAFORM / "modules" / "sluice-app"
DEPLOY = TERRAFORM / "sluice"
EXAMPLE = TERRAFORM / "examples" / "dbaas"


def load_dir(directory):
    merged = {}
    for path in sorted(directory.glob("*.tf")):
        with open(path, encoding="utf-8") as f:
            for key, value in hcl2.load(f).items():
                merged.setdefault(key, []).extend(value)
    return merged


def unquote(name):
    return name.strip('"')


def blocks(parsed, kind):
    """{name: attributes} of the one-label blocks of a kind (variable, output, module)."""
    out = {}
    for block in parsed.get(kind, []):
        for name, attrs in block.items():
            out[unquote(name)] = attrs
    return out


def test_every_tf_file_parses():
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) >= 8, files
    for path in files:
        with open(path, encoding="utf-8") as f:
            assert hcl2.load(f), path


def run_module(directory, inputs):
    """Evaluates a module's variables (defaults, validations), locals and outputs for
    the given inputs, as Terraform would."""
    parsed = load_dir(directory)
    variables = blocks(parsed, "variable")
    unknown = set(inputs) - set(variables)
    assert not unknown, f"{directory.name} has no variables {unknown}"
    var = {}
    for name, attrs in variables.items():
        if name in inputs:
            var[name] = inputs[name]
        elif "default" in attrs:
            var[name] = evaluate(attrs["default"], {})
        else:
            raise AssertionError(f"{directory.name}: variable {name} is required")
    scope = {
        "var": var,
        "path": {"module": str(directory)},
        "random_password": {"sluice": {"result": "test-password"}},
    }
    for name, attrs in variables.items():
        for rule in attrs.get("validation", []):
            if not evaluate(rule["condition"], scope):
                raise ValueError(f"{name}: {evaluate(rule['error_message'], scope)}")
    local = {}
    scope["local"] = local
    pending = {k: v for block in parsed.get("locals", []) for k, v in block.items()
               if not k.startswith("__")}
    while pending:
        progress = False
        for name, expr in list(pending.items()):
            try:
                local[name] = evaluate(expr, scope)
            except Exception:  # depends on a local not evaluated yet
                continue
            del pending[name]
            progress = True
        assert progress, f"{directory.name}: cannot evaluate locals {sorted(pending)}"
    outputs = {name: evaluate(attrs["value"], scope)
               for name, attrs in blocks(parsed, "output").items()}
    return parsed, scope, outputs


def example_apps():
    """The example root's sluice-app module blocks, with their inputs evaluated."""
    parsed = load_dir(EXAMPLE)
    root_vars = {name: evaluate(attrs["default"], {}) if "default" in attrs else "secret"
                 for name, attrs in blocks(parsed, "variable").items()}
    scope = {"var": root_vars, "path": {"module": str(EXAMPLE)}}
    apps = {}
    for name, attrs in blocks(parsed, "module").items():
        source = evaluate(attrs["source"], scope)
        if (EXAMPLE / source).resolve() == MODULE.resolve():
            apps[name] = {k: evaluate(v, scope) for k, v in attrs.items()
                          if k != "source" and not k.startswith("__")}
    return parsed, apps


def overlay_config():
    return tomllib.loads((OVERLAY / "sluice.toml").read_text())


def test_example_uses_the_module_for_apps_of_both_protocols():
    _, apps = example_apps()
    protocols = {a["protocol"] for a in apps.values()}
    assert protocols == {"postgresql", "mysql"}, apps
    assert len(apps) >= 4


SIDE = {"postgresql": "postgres", "mysql": "mysql"}


def test_app_module_names_roles_paths_and_routes_as_sluice_expects():
    _, apps = example_apps()
    for block, inputs in apps.items():
        parsed, scope, out = run_module(MODULE, inputs)
        name, protocol = inputs["name"], inputs["protocol"]
        prefix = "postgres" if protocol == "postgresql" else "mysql"
        side = SIDE[protocol]
        kind = scope["var"]["credentials"]
        role = f"{prefix}-{name}-role"
        assert out["role_name"] == role, block
        assert (out["name"], out["protocol"], out["credentials"]) == (name, protocol, kind)

        # The Vault role resource carries that name on sluice's mount.
        resources = {unquote(t): {unquote(n): a for n, a in r.items()}
                     for block_ in parsed["resource"] for t, r in block_.items()}
        static = resources["vault_database_secret_backend_static_role"]["app"]
        dynamic = resources["vault_database_secret_backend_role"]["app"]
        for res, wanted in ((static, "static"), (dynamic, "dynamic")):
            assert evaluate(res["count"], scope) == (1 if kind == wanted else 0)
            assert evaluate(res["name"], scope) == role
            assert evaluate(res["backend"], scope) == overlay_config()["vault"]["mount"]

        # The policy line for exactly the path sluice reads.
        path = {"static": f"database/static-creds/{role}",
                "dynamic": f"database/creds/{role}", "file": None}[kind]
        if path:
            assert out["vault_policy"].startswith(f'path "{path}" {{'), out["vault_policy"]
            assert 'capabilities = ["read"]' in out["vault_policy"]
        else:
            assert out["vault_policy"] == ""

        # On the wildcard route exactly when it sets nothing of its own.
        own = {"pool_size", "pool_mode", "cluster", "database"} & set(inputs)
        assert out["templatable"] == (kind != "file" and not own), block

        # The route written out: only what the app sets, its user, its credentials.
        route = tomllib.loads(out["route_toml"])[side]["databases"]
        ((database, table),) = route.items()
        assert database == out["database"]
        assert table["users"] == [name]
        assert vault_role(table) == (None if kind == "file" else role)
        assert set(table) == {"users", "credentials"} | own - {"database"}, table
        users = tomllib.loads(out["user_toml"])["users"]
        assert set(users) == {name}


def test_module_validation_refuses_a_bad_app_name():
    with pytest.raises(ValueError, match="name"):
        run_module(MODULE, {"name": "Bad App", "protocol": "postgresql"})


def test_deploy_module_takes_every_output_it_reads_from_the_app_module():
    """var.apps's object type names outputs sluice-app has (Terraform would refuse the
    module objects otherwise)."""
    (apps,) = [a for name, a in blocks(load_dir(DEPLOY), "variable").items() if name == "apps"]
    wanted = set(re.findall(r"(\w+)\s*=", apps["type"]))
    outputs = set(blocks(load_dir(MODULE), "output"))
    assert wanted and wanted <= outputs, wanted - outputs


def deploy_config(apps, **inputs):
    """deploy/terraform/sluice's sluice.toml and hba.conf for a list of sluice-app
    outputs: its own locals (allow lists, routes written out, templatefile) evaluated."""
    _, scope, out = run_module(DEPLOY, {"apps": apps, "overlay_path": str(OVERLAY), **inputs})
    return out["sluice_toml"], scope["var"]["hba_conf"]


def without_routes(config):
    for side in ("postgres", "mysql"):
        config.get(side, {}).pop("databases", None)
    return config


def allowed(config, side):
    return config.get(side, {}).get("databases", {}).get("*", {}).get("allow", [])


def test_deploy_module_config_passes_sluice_check_and_matches_the_overlay(tmp_path):
    _, apps = example_apps()
    outs = [run_module(MODULE, inputs)[2] for inputs in apps.values()]
    # One more app on a dynamic role: a route of its own (the wildcard routes take
    # static roles), and its policy path.
    dynamic = run_module(MODULE, {"name": "reporting", "protocol": "postgresql",
                                  "credentials": "dynamic"})[2]
    assert dynamic["vault_policy"].startswith('path "database/creds/postgres-reporting-role"')
    assert "vault_dynamic_role = \"postgres-reporting-role\"" in dynamic["route_toml"]
    text, hba = deploy_config(outs + [dynamic])
    config = tomllib.loads(text)
    overlay = overlay_config()
    # Everything but the routes is the overlay's, [postgres.defaults] and
    # [mysql.defaults] included.
    assert without_routes(tomllib.loads(text)) == without_routes(overlay_config())
    assert hba == (OVERLAY / "hba.conf").read_text()

    # Each app, once the wildcard routes are expanded: the overlay's route, its own
    # Vault role and user, and listed (or written out) as in the overlay.
    ours, theirs = expand_routes(config), expand_routes(overlay)
    for out in outs:
        side, name = SIDE[out["protocol"]], out["name"]
        assert ours[side][name] == theirs[side].get(name), (name, ours[side][name])
        assert vault_role(ours[side][name]) == (
            None if out["credentials"] == "file" else out["role_name"])
        assert ours[side][name]["users"] == [name]
        assert (name in allowed(config, side)) == (name in allowed(overlay, side)), name
    assert allowed(config, "postgres") and allowed(config, "mysql"), text
    assert set(ours["postgres"]) - set(theirs["postgres"]) == {"reporting"}
    assert ours["postgres"]["reporting"]["credentials"] == {
        "vault_dynamic_role": "postgres-reporting-role"}
    assert set(ours["mysql"]) <= set(theirs["mysql"])

    path = materialize(text, hba, tmp_path)
    status, stderr = sluice_check(path, "--replicas", 3, "--pre-stop", 5,
                                  "--termination-grace-period", 50)
    assert status == 0, stderr
    assert "warning" not in stderr, stderr


def module_inputs_for_overlay_routes(overlay):
    """One sluice-app module block per route of the overlay, as an operator would write
    it: the app's name, protocol and kind of credentials, and the options its block
    sets itself (an app on the wildcard route sets none)."""
    inputs = []
    for protocol, side in SIDE.items():
        for name, block in overlay[side]["databases"].items():
            if name == "*":
                kind = "static" if "vault_static_role" in block["credentials"] else "dynamic"
                inputs += [{"name": app, "protocol": protocol, "credentials": kind}
                           for app in block["allow"]]
                continue
            creds = block["credentials"]
            app = {"name": name, "protocol": protocol,
                   "credentials": "static" if "vault_static_role" in creds
                   else "dynamic" if "vault_dynamic_role" in creds else "file"}
            if creds.get("username", name) != name:
                app["db_username"] = creds["username"]
            app.update({k: block[k] for k in ("pool_size", "pool_mode", "cluster") if k in block})
            inputs.append(app)
    return inputs


def test_deploy_module_with_every_overlay_app_gives_the_overlays_config(tmp_path):
    """Terraform with one module block per app of the overlay: the same config, route
    for route (wildcard routes expanded) and the same allow lists."""
    overlay = overlay_config()
    outs = [run_module(MODULE, inputs)[2] for inputs in module_inputs_for_overlay_routes(overlay)]
    text, hba = deploy_config(outs)
    config = tomllib.loads(text)
    assert expand_routes(config) == expand_routes(overlay)
    for side in ("postgres", "mysql"):
        assert sorted(allowed(config, side)) == sorted(allowed(overlay, side)), side
        assert set(config[side]["databases"]) == set(overlay[side]["databases"]), side
    assert without_routes(config) == without_routes(overlay)
    status, stderr = sluice_check(materialize(text, hba, tmp_path))
    assert status == 0, stderr


def test_deploy_module_puts_dynamic_roles_on_the_wildcard_route_when_told(tmp_path):
    health = run_module(MODULE, {"name": "health", "protocol": "postgresql"})[2]
    reporting = run_module(MODULE, {"name": "reporting", "protocol": "postgresql",
                                    "credentials": "dynamic"})[2]
    text, hba = deploy_config([health, reporting], wildcard_credentials="dynamic")
    config = tomllib.loads(text)
    assert allowed(config, "postgres") == ["reporting"]
    routes = expand_routes(config)["postgres"]
    assert vault_role(routes["reporting"]) == "postgres-reporting-role"
    assert routes["health"]["credentials"] == {"vault_static_role": "postgres-health-role"}
    status, stderr = sluice_check(materialize(text, hba, tmp_path))
    assert status == 0, stderr


def test_deploy_module_without_mysql_apps_leaves_mysql_out(tmp_path):
    health = run_module(MODULE, {"name": "health", "protocol": "postgresql"})[2]
    text, hba = deploy_config([health])
    assert "[mysql" not in text
    assert allowed(tomllib.loads(text), "postgres") == ["health"]
    status, stderr = sluice_check(materialize(text, hba, tmp_path))
    assert status == 0, stderr


def test_deploy_module_without_templatable_apps_writes_no_wildcard_route(tmp_path):
    """sluice refuses a wildcard route with an empty allow list: none is written."""
    nextcloud = run_module(MODULE, {"name": "nextcloud", "protocol": "mysql",
                                    "pool_size": 20})[2]
    text, hba = deploy_config([nextcloud])
    assert '"*"' not in text and "[postgres" not in text, text
    status, stderr = sluice_check(materialize(text, hba, tmp_path))
    assert status == 0, stderr


def test_sluice_check_refuses_a_route_the_module_could_get_wrong(tmp_path):
    """The checks above can fail: a route naming a cluster the config lacks."""
    route = run_module(MODULE, {"name": "health", "protocol": "postgresql",
                                "cluster": "nowhere"})[2]
    text, hba = deploy_config([route])
    status, stderr = sluice_check(materialize(text, hba, tmp_path))
    assert status != 0 and "nowhere" in stderr, stderr


def test_routes_expanded_here_are_the_routes_sluice_expands(tmp_path):
    """The expansion above (conftest.expand_routes) agrees with sluice's own: with
    server_max_connections = 1 on each cluster, `sluice check` names the sum of the
    pool sizes of the cluster's routes, wildcard routes and defaults included."""
    text = (OVERLAY / "sluice.toml").read_text()
    for header in ("[postgres.clusters.main]\n", "[mysql.clusters.innodb]\n"):
        assert header in text
        text = text.replace(header, header + "server_max_connections = 1\n")
    routes = expand_routes(tomllib.loads(text))
    path = materialize(text, (OVERLAY / "hba.conf").read_text(), tmp_path)
    status, stderr = sluice_check(path, "--replicas", 1)
    assert status == 0, stderr
    for side, cluster in (("postgres", "main"), ("mysql", "innodb")):
        total = sum(r["pool_size"] for r in routes[side].values() if r["cluster"] == cluster)
        assert len(routes[side]) >= 7, routes[side]
        said = f"{side}.clusters.{cluster}: 1 replica(s) × ({total} pool_size in total"
        assert said in stderr, (total, stderr)


def test_sluice_check_refuses_an_app_both_listed_and_written_out(tmp_path):
    """sluice validates the template: an app of the overlay's allow list that is also
    written out is an error (add an app to one or the other)."""
    text = (OVERLAY / "sluice.toml").read_text() + (
        '\n[postgres.databases.health]\nusers = ["health"]\n'
        'credentials = { vault_static_role = "postgres-health-role" }\n')
    with pytest.raises(ValueError, match="health"):
        expand_routes(tomllib.loads(text))
    status, stderr = sluice_check(materialize(text, (OVERLAY / "hba.conf").read_text(), tmp_path))
    assert status != 0 and "also in the allow list" in stderr, stderr


def test_example_root_wires_every_app_into_sluice():
    parsed, apps = example_apps()
    sluice = blocks(parsed, "module")["sluice"]
    wired = {ref.removeprefix("${module.").removesuffix("}") for ref in sluice["apps"]}
    assert wired == set(apps), (wired, set(apps))
    overlay_path = evaluate(sluice["overlay_path"], {"path": {"module": str(EXAMPLE)}})
    assert pathlib.Path(overlay_path).resolve() == OVERLAY.resolve()
