# One app behind sluice: its Vault database role, the line of sluice's Vault policy that
# lets sluice read it, its sluice route and user, and the app's own connection Secret.
# deploy/terraform/sluice collects them from every app: an app whose route is the
# wildcard route filled in with its name (templatable) becomes one name of that route's
# allow list; any other app's route_toml is a block of its own in sluice.toml.

locals {
  prefix   = var.protocol == "postgresql" ? "postgres" : "mysql"
  section  = var.protocol == "postgresql" ? "postgres" : "mysql"
  database = coalesce(var.database, var.name)
  username = coalesce(var.db_username, var.name)
  port     = var.protocol == "postgresql" ? var.postgresql_port : var.mysql_port

  # The cluster's role names: postgres-<app>-role, mysql-<app>-role.
  role_name = "${local.prefix}-${var.name}-role"

  # The wildcard route serves a database under its own name, to the sluice user of that
  # name, with the Vault role <prefix>-<name>-role and the section's defaults: an app
  # that sets nothing else is one name in its allow list.
  templatable = (var.credentials != "file" && local.database == var.name
  && var.cluster == null && var.pool_mode == null && var.pool_size == null)

  creds_path = {
    static  = "${var.vault_backend}/static-creds/${local.role_name}"
    dynamic = "${var.vault_backend}/creds/${local.role_name}"
    file    = ""
  }[var.credentials]

  credentials_toml = {
    static  = "{ vault_static_role = \"${local.role_name}\" }"
    dynamic = "{ vault_dynamic_role = \"${local.role_name}\" }"
    file    = "{ username = \"${local.username}\", password_file = \"${var.password_dir}/${var.name}\" }"
  }[var.credentials]
}

resource "vault_database_secret_backend_static_role" "app" {
  count           = var.credentials == "static" ? 1 : 0
  backend         = var.vault_backend
  name            = local.role_name
  db_name         = coalesce(var.vault_connection, local.prefix)
  username        = local.username
  rotation_period = var.rotation_period
}

resource "vault_database_secret_backend_role" "app" {
  count                 = var.credentials == "dynamic" ? 1 : 0
  backend               = var.vault_backend
  name                  = local.role_name
  db_name               = coalesce(var.vault_connection, local.prefix)
  creation_statements   = var.creation_statements
  revocation_statements = var.revocation_statements
  default_ttl           = var.default_ttl
  max_ttl               = var.max_ttl
}

# The app's sluice identity: a password Vault never rotates.
resource "random_password" "sluice" {
  length  = 32
  special = false
}

resource "kubernetes_secret_v1" "app" {
  count = var.app_namespace == null ? 0 : 1
  metadata {
    name      = "${var.name}-db"
    namespace = var.app_namespace
  }
  data = {
    host     = var.protocol == "postgresql" ? var.postgresql_host : var.mysql_host
    port     = tostring(local.port)
    database = local.database
    username = var.name
    password = random_password.sluice.result
  }
}
