# sluice itself: the workload from the kustomize overlay, its configuration built from
# the apps (sluice-app modules: a name in a wildcard route's allow list, or a route of
# its own), the users and peers Secrets, and its Vault policy and Kubernetes auth role.

locals {
  sections = { postgresql = "postgres", mysql = "mysql" }

  # Per protocol, the apps on its wildcard route: one name each in its allow list.
  allow = { for protocol, section in local.sections : protocol => [
    for app in var.apps : app.name
    if app.protocol == protocol && app.templatable && app.credentials == var.wildcard_credentials
  ] }

  # Per protocol, its routes: the wildcard route (when it lists an app), then the apps
  # with options or credentials of their own, written out.
  routes = { for protocol, section in local.sections : protocol => join("\n", concat(
    length(local.allow[protocol]) == 0 ? [] : [templatefile("${path.module}/wildcard.toml.tftpl", {
      section     = section
      allow       = local.allow[protocol]
      credentials = var.wildcard_credentials
    })],
    [for app in var.apps : app.route_toml
    if app.protocol == protocol && !contains(local.allow[protocol], app.name)],
  )) }
  any_dynamic = anytrue([for app in var.apps : app.dynamic])

  sluice_toml = templatefile("${path.module}/sluice.toml.tftpl", {
    namespace       = var.namespace
    workers         = var.workers
    vault_address   = var.vault_address
    pool_size       = var.pool_size
    postgres_routes = local.routes["postgresql"]
    mysql_routes    = local.routes["mysql"]
  })

  # The ConfigMap comes from Terraform (with the apps' routes), not from the overlay.
  config_map_id = "_/ConfigMap/${var.namespace}/sluice"
}

resource "kubernetes_config_map_v1" "sluice" {
  metadata {
    name      = "sluice"
    namespace = var.namespace
  }
  data = {
    "sluice.toml" = local.sluice_toml
    "hba.conf"    = var.hba_conf
  }
}

resource "kubernetes_secret_v1" "users" {
  metadata {
    name      = "sluice-users"
    namespace = var.namespace
  }
  data = {
    "users.toml" = join("\n", [for app in var.apps : app.user_toml])
  }
}

resource "random_password" "peers" {
  length  = 48
  special = false
}

resource "kubernetes_secret_v1" "peers" {
  metadata {
    name      = "sluice-peers"
    namespace = var.namespace
  }
  data = {
    secret = random_password.peers.result
  }
}

resource "kubernetes_secret_v1" "db_passwords" {
  metadata {
    name      = "sluice-db-passwords"
    namespace = var.namespace
  }
  data = var.db_passwords
}

resource "vault_policy" "sluice" {
  name = "sluice"
  policy = join("\n", concat(
    [for app in var.apps : app.vault_policy if app.vault_policy != ""],
    local.any_dynamic ? [
      "path \"sys/leases/renew\" {\n  capabilities = [\"update\"]\n}\n",
      "path \"sys/leases/revoke\" {\n  capabilities = [\"update\"]\n}\n",
    ] : [],
    [
      "path \"auth/token/lookup-self\" {\n  capabilities = [\"read\"]\n}\n",
      "path \"auth/token/renew-self\" {\n  capabilities = [\"update\"]\n}\n",
    ],
  ))
}

resource "vault_kubernetes_auth_backend_role" "sluice" {
  backend                          = var.vault_kubernetes_auth_backend
  role_name                        = "sluice"
  bound_service_account_names      = ["sluice"]
  bound_service_account_namespaces = [var.namespace]
  token_policies                   = [vault_policy.sluice.name]
  token_period                     = 3600 # periodic: renewed by sluice while it runs
}

data "kustomization_build" "sluice" {
  path = var.overlay_path
}

resource "kustomization_resource" "sluice" {
  for_each = setsubtract(data.kustomization_build.sluice.ids, [local.config_map_id])
  manifest = data.kustomization_build.sluice.manifests[each.value]

  depends_on = [
    kubernetes_config_map_v1.sluice,
    kubernetes_secret_v1.users,
    kubernetes_secret_v1.peers,
    kubernetes_secret_v1.db_passwords,
    vault_kubernetes_auth_backend_role.sluice,
  ]
}
