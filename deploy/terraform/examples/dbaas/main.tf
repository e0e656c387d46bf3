# This cluster's sluice, and a few of its apps, in the style of the cluster's stacks:
# onboarding one more app is one module block here and its name in module.sluice's apps.
# An app that sets no pool option of its own and has a static role becomes one name in
# the allow list of its protocol's wildcard route; the others get a route of their own.

terraform {
  required_providers {
    vault = {
      source = "hashicorp/vault"
    }
    kubernetes = {
      source = "hashicorp/kubernetes"
    }
    random = {
      source = "hashicorp/random"
    }
    kustomization = {
      source = "kbst/kustomization"
    }
  }
}

# The shared variables every stack uses: unchanged, now Services of sluice.
variable "postgresql_host" {
  default = "pgbouncer.dbaas.svc.cluster.local"
}

variable "mysql_host" {
  default = "mysql.dbaas.svc.cluster.local"
}

variable "authentik_db_password" {
  description = "authentik's current database password, until it has a static role."
  sensitive   = true
}

# A PostgreSQL app whose user Vault already rotates (static role, 7 days), with the
# section's pool options: a name in the wildcard route's allow list.
module "health" {
  source          = "../../modules/sluice-app"
  name            = "health"
  protocol        = "postgresql"
  credentials     = "static"
  app_namespace   = "health"
  postgresql_host = var.postgresql_host
}

module "linkwarden" {
  source          = "../../modules/sluice-app"
  name            = "linkwarden"
  protocol        = "postgresql"
  app_namespace   = "linkwarden"
  postgresql_host = var.postgresql_host
}

# Excluded from rotation today: first its current password (a file route), later a
# static role (docs/migration.md).
module "authentik" {
  source          = "../../modules/sluice-app"
  name            = "authentik"
  protocol        = "postgresql"
  credentials     = "file"
  app_namespace   = "authentik"
  postgresql_host = var.postgresql_host
}

# A MySQL app on its static role with the section's pool options: a name in the
# allow list of [mysql.databases."*"].
module "grafana" {
  source        = "../../modules/sluice-app"
  name          = "grafana"
  protocol      = "mysql"
  app_namespace = "grafana"
  mysql_host    = var.mysql_host
}

# Its own pool size: a route of its own.
module "nextcloud" {
  source        = "../../modules/sluice-app"
  name          = "nextcloud"
  protocol      = "mysql"
  pool_size     = 20
  app_namespace = "nextcloud"
  mysql_host    = var.mysql_host
}

# Technitium keeps its MySQL connection in its own settings: set them once to the
# sluice password of technitium-db; the CronJob that pushed rotated passwords goes.
module "technitium" {
  source        = "../../modules/sluice-app"
  name          = "technitium"
  protocol      = "mysql"
  pool_size     = 5
  app_namespace = "technitium"
  mysql_host    = var.mysql_host
}

module "sluice" {
  source       = "../../sluice"
  overlay_path = "${path.module}/../../../kubernetes/overlays/dbaas"
  apps = [
    module.health,
    module.linkwarden,
    module.authentik,
    module.grafana,
    module.nextcloud,
    module.technitium,
  ]
  db_passwords = {
    authentik = var.authentik_db_password
  }
}
