"""Shared helpers of the deployment checks (run by scripts/test.sh with the Python
environment scripts/install-deps.sh prepares)."""

import os
import pathlib
import re
import shutil
import subprocess
import tomllib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy" / "kubernetes" / "overlays" / "dbaas"
BASE = ROOT / "deploy" / "kubernetes" / "base"


def sluice_bin():
    """The debug binary `cargo test` built (scripts/test.sh passes SLUICE_BIN)."""
    path = os.environ.get("SLUICE_BIN")
    if not path:
        target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
        path = os.path.join(target, "debug", "sluice")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no sluice binary at {path}: run `cargo build -p sluice` or set SLUICE_BIN")
    return path


def kustomize(path):
    """Renders a kustomization with `kubectl kustomize` and returns its objects."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.fail("kubectl not found: scripts/install-deps.sh installs it")
    out = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        pytest.fail(f"kubectl kustomize {path} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def find(objects, kind, name):
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def make_ca(directory):
    """A CA certificate file for tls_ca_file (sluice check reads it)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=test-ca", "-keyout", str(directory / "ca.key"),
            "-out", str(directory / "ca.crt"),
        ],
        check=True,
        capture_output=True,
    )
    (directory / "ca.key").unlink()


def materialize(config_text, hba_text, root):
    """Writes a config and the files it names under `root`, as the pod's mounts hold
    them: the config's /etc/sluice paths are moved under root. The Secrets that are not
    in Git get stand-ins: a users file with every user the routes name, the peers
    secret, a CA, and the password files of file routes."""
    config_text = config_text.replace("/etc/sluice", str(root))
    config = tomllib.loads(config_text)
    (root / "config").mkdir(parents=True)
    (root / "config" / "sluice.toml").write_text(config_text)
    (root / "config" / "hba.conf").write_text(hba_text)
    users = set()
    routes = expand_routes(config, strict=False)
    for side in ("postgres", "mysql"):
        for db in routes.get(side, {}).values():
            users.update(db.get("users", []))
            creds = db["credentials"]
            if "password_file" in creds:
                path = pathlib.Path(creds["password_file"])
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("not-the-real-password\n")
        for cluster in config.get(side, {}).get("clusters", {}).values():
            if "tls_ca_file" in cluster:
                make_ca(pathlib.Path(cluster["tls_ca_file"]).parent)
    users_file = pathlib.Path(config["postgres"]["users_file"] if "postgres" in config
                              else config["mysql"]["users_file"])
    users_file.parent.mkdir(parents=True, exist_ok=True)
    users_file.write_text("".join(f'[users.{u}]\npassword = "x"\n' for u in sorted(users)))
    if "peers" in config:
        secret = pathlib.Path(config["peers"]["secret_file"])
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text("0123456789abcdef0123456789abcdef\n")
    return root / "config" / "sluice.toml"


WILDCARD = "*"
PLACEHOLDER = "{database}"


def _fill(value, name):
    return value.replace(PLACEHOLDER, name)


def expand_routes(config, strict=True):
    """{side: {route name: its options}} of a parsed config, as docs/configuration.md
    describes them: each block written out, and one route per name of the wildcard
    route's `allow` list with {database} filled in (Vault role names, users,
    owner_role); `[<side>.defaults]` fills what a route leaves out. A name both written
    out and listed is refused, as sluice refuses it (unless not strict: then the block
    written out is kept, for stand-in files of a config sluice is to refuse)."""
    out = {}
    for side in ("postgres", "mysql"):
        if side not in config:
            continue
        defaults = config[side].get("defaults", {})
        databases = config[side].get("databases", {})
        routes = {name: {**defaults, **block}
                  for name, block in databases.items() if name != WILDCARD}
        template = databases.get(WILDCARD)
        if template is not None:
            for name in template["allow"]:
                if name in routes:
                    if not strict:
                        continue
                    raise ValueError(f"{side}.databases.{name}: also in the allow list")
                route = {**defaults, **{k: v for k, v in template.items() if k != "allow"}}
                route["users"] = [_fill(u, name) for u in route.get("users", [])]
                route["credentials"] = {
                    k: _fill(v, name) if k in ("vault_static_role", "vault_dynamic_role") else v
                    for k, v in route["credentials"].items()
                }
                if "owner_role" in route:
                    route["owner_role"] = _fill(route["owner_role"], name)
                routes[name] = route
        out[side] = routes
    return out


def vault_role(route):
    """The Vault role a route reads, or None (a password file)."""
    creds = route["credentials"]
    return creds.get("vault_static_role") or creds.get("vault_dynamic_role")


def sluice_check(config_path, *args):
    """Runs `sluice check`; returns (exit status, stderr)."""
    out = subprocess.run(
        [sluice_bin(), "check", "--config", str(config_path), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.returncode, out.stderr


def toml_tables(text):
    return tomllib.loads(text)


def strip_comments(text):
    return re.sub(r"(?m)^\s*#.*\n", "", text)
