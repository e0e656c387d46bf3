"""deploy/terraform: every .tf parses (python-hcl2); the sluice-app module, evaluated
for the apps of the example root, names the cluster's Vault roles and policy paths and
produces the same routes as the dbaas overlay's config; the config deploy/terraform/sluice
builds from them passes `sluice check`."""

import pathlib
import tomllib

import hcl2
import pytest

from conftest import OVERLAY, ROOT, materialize, sluice_check
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


def test_app_module_names_roles_paths_and_routes_as_sluice_expects():
    overlay = overlay_config()
    _, apps = example_apps()
    for block, inputs in apps.items():
        parsed, scope, out = run_module(MODULE, inputs)
        name, protocol = inputs["name"], inputs["protocol"]
        prefix = "postgres" if protocol == "postgresql" else "mysql"
        side = "postgres" if protocol == "postgresql" else "mysql"
        kind = scope["var"]["credentials"]
        role = f"{prefix}-{name}-role"
        assert out["role_name"] == role, block

        # The Vault role resource carries that name on sluice's mount.
        resources = {unquote(t): {unquote(n): a for n, a in r.items()}
                     for block_ in parsed["resource"] for t, r in block_.items()}
        static = resources["vault_database_secret_backend_static_role"]["app"]
        dynamic = resources["vault_database_secret_backend_role"]["app"]
        for res, wanted in ((static, "static"), (dynamic, "dynamic")):
            assert evaluate(res["count"], scope) == (1 if kind == wanted else 0)
            assert evaluate(res["name"], scope) == role
            assert evaluate(res["backend"], scope) == overlay["vault"]["mount"]

        # The policy line for exactly the path sluice reads.
        path = {"static": f"database/static-creds/{role}",
                "dynamic": f"database/creds/{role}", "file": None}[kind]
        if path:
            assert out["vault_policy"].startswith(f'path "{path}" {{'), out["vault_policy"]
            assert 'capabilities = ["read"]' in out["vault_policy"]
        else:
            assert out["vault_policy"] == ""

        # The route equals the overlay's route of the same database.
        route = tomllib.loads(out["route_toml"])[side]["databases"]
        ((database, table),) = route.items()
        assert database == out["database"]
        assert overlay[side]["databases"].get(database) == table, (block, table)
        assert table["users"] == [name]
        users = tomllib.loads(out["user_toml"])["users"]
        assert set(users) == {name}


def test_module_validation_refuses_a_bad_app_name():
    with pytest.raises(ValueError, match="name"):
        run_module(MODULE, {"name": "Bad App", "protocol": "postgresql"})


def deploy_config(routes):
    """deploy/terraform/sluice's sluice.toml for a set of sluice-app outputs (the
    for-expressions of its locals done here; the templatefile call is its own)."""
    parsed = load_dir(DEPLOY)
    (locals_,) = parsed["locals"]
    variables = {name: evaluate(attrs["default"], {}) if "default" in attrs else None
                 for name, attrs in blocks(parsed, "variable").items()}
    scope = {
        "var": variables,
        "path": {"module": str(DEPLOY)},
        "local": {
            "postgres_routes": "\n".join(r["route_toml"] for r in routes
                                         if r["protocol"] == "postgresql"),
            "mysql_routes": "\n".join(r["route_toml"] for r in routes
                                      if r["protocol"] == "mysql"),
        },
    }
    return evaluate(locals_["sluice_toml"], scope), variables["hba_conf"]


def without_routes(config):
    for side in ("postgres", "mysql"):
        config.get(side, {}).pop("databases", None)
    return config


def test_deploy_module_config_passes_sluice_check_and_matches_the_overlay(tmp_path):
    _, apps = example_apps()
    routes = [run_module(MODULE, inputs)[2] for inputs in apps.values()]
    # One more app on a dynamic role: its route and policy path.
    dynamic = run_module(MODULE, {"name": "reporting", "protocol": "postgresql",
                                  "credentials": "dynamic"})[2]
    assert dynamic["vault_policy"].startswith('path "database/creds/postgres-reporting-role"')
    assert "vault_dynamic_role = \"postgres-reporting-role\"" in dynamic["route_toml"]
    text, hba = deploy_config(routes + [dynamic])
    config = tomllib.loads(text)
    assert without_routes(dict(config)) == without_routes(overlay_config())
    assert hba == (OVERLAY / "hba.conf").read_text()
    path = materialize(text, hba, tmp_path)
    status, stderr = sluice_check(path, "--replicas", 3, "--pre-stop", 5,
                                  "--termination-grace-period", 50)
    assert status == 0, stderr
    assert "warning" not in stderr, stderr


def test_deploy_module_without_mysql_apps_leaves_mysql_out(tmp_path):
    health = run_module(MODULE, {"name": "health", "protocol": "postgresql"})[2]
    text, hba = deploy_config([health])
    assert "[mysql]" not in text
    status, stderr = sluice_check(materialize(text, hba, tmp_path))
    assert status == 0, stderr


def test_sluice_check_refuses_a_route_the_module_could_get_wrong(tmp_path):
    """The checks above can fail: a route naming a cluster the config lacks."""
    route = run_module(MODULE, {"name": "health", "protocol": "postgresql",
                                "cluster": "nowhere"})[2]
    text, hba = deploy_config([route])
    status, stderr = sluice_check(materialize(text, hba, tmp_path))
    assert status != 0 and "nowhere" in stderr, stderr


def test_example_root_wires_every_app_into_sluice():
    parsed, apps = example_apps()
    sluice = blocks(parsed, "module")["sluice"]
    wired = {ref.removeprefix("${module.").removesuffix("}") for ref in sluice["apps"]}
    assert wired == set(apps), (wired, set(apps))
    overlay_path = evaluate(sluice["overlay_path"], {"path": {"module": str(EXAMPLE)}})
    assert pathlib.Path(overlay_path).resolve() == OVERLAY.resolve()
