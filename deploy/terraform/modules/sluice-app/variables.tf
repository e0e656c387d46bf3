variable "name" {
  description = "The app: names its Vault role (postgres-<name>-role or mysql-<name>-role) and its sluice user."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9_-]+$", var.name))
    error_message = "name: lower-case letters, digits, _ and - only (it is a TOML key and part of a Vault path)."
  }
}

variable "protocol" {
  description = "\"postgresql\" or \"mysql\"."
  type        = string
  validation {
    condition     = contains(["postgresql", "mysql"], var.protocol)
    error_message = "protocol: \"postgresql\" or \"mysql\"."
  }
}

variable "database" {
  description = "The database name the app connects with, and sluice's route name; default: name. A different one gives the app a route block of its own."
  type        = string
  default     = null
}

variable "credentials" {
  description = "How sluice logs in to the database for this app: \"static\" (a Vault static role rotating db_username's password), \"dynamic\" (a Vault dynamic role, a generated user per lease) or \"file\" (the app's current password, from the Secret sluice-db-passwords: for apps not rotated yet)."
  type        = string
  default     = "static"
  validation {
    condition     = contains(["static", "dynamic", "file"], var.credentials)
    error_message = "credentials: \"static\", \"dynamic\" or \"file\"."
  }
}

variable "db_username" {
  description = "The database user of a static role or a file route; default: name."
  type        = string
  default     = null
}

variable "pool_size" {
  description = "Server connections per sluice replica for this app; default: the section's (pool_size of deploy/terraform/sluice, 10). Setting it gives the app a route block of its own."
  type        = number
  default     = null
}

variable "pool_mode" {
  description = "\"transaction\" or \"session\" (use a static role with session); default: the section's (\"transaction\"). Setting it gives the app a route block of its own."
  type        = string
  default     = null
  validation {
    condition     = contains(["transaction", "session"], coalesce(var.pool_mode, "transaction"))
    error_message = "pool_mode: \"transaction\" or \"session\"."
  }
}

variable "cluster" {
  description = "The sluice cluster name of the route; default: the section's (\"main\" for PostgreSQL, \"innodb\" for MySQL, the dbaas overlay's names). Setting it gives the app a route block of its own."
  type        = string
  default     = null
}

variable "vault_backend" {
  description = "Mount of the database secrets engine."
  type        = string
  default     = "database"
}

variable "vault_connection" {
  description = "The secrets engine's connection (db_name) the role belongs to; default: \"postgres\" or \"mysql\". Its allowed_roles must include this app's role."
  type        = string
  default     = null
}

variable "rotation_period" {
  description = "Static roles: seconds between password rotations."
  type        = number
  default     = 604800 # 7 days
}

variable "creation_statements" {
  description = "Dynamic roles: statements creating each lease's user ({{name}}, {{password}}, {{expiration}})."
  type        = list(string)
  default     = []
}

variable "revocation_statements" {
  description = "Dynamic roles: statements run when a lease ends."
  type        = list(string)
  default     = []
}

variable "default_ttl" {
  description = "Dynamic roles: lease length in seconds; sluice renews at half."
  type        = number
  default     = 604800
}

variable "max_ttl" {
  description = "Dynamic roles: longest a lease is renewed to, in seconds; then sluice moves to a new user."
  type        = number
  default     = 604800
}

variable "password_dir" {
  description = "Where the sluice pods mount the Secret sluice-db-passwords (file routes)."
  type        = string
  default     = "/etc/sluice/db-passwords"
}

variable "app_namespace" {
  description = "When set, a Secret <name>-db with the app's connection to sluice (host, port, database, username, password) is created there."
  type        = string
  default     = null
}

variable "postgresql_host" {
  description = "The cluster's shared PostgreSQL host, now a Service of sluice."
  type        = string
  default     = "pgbouncer.dbaas.svc.cluster.local"
}

variable "mysql_host" {
  description = "The cluster's shared MySQL host, now a Service of sluice."
  type        = string
  default     = "mysql.dbaas.svc.cluster.local"
}

variable "postgresql_port" {
  description = "Port of postgresql_host in the app's Secret (6432 while the app reaches sluice by sluice.dbaas.svc.cluster.local, before the takeover of pgbouncer)."
  type        = number
  default     = 5432
}

variable "mysql_port" {
  description = "Port of mysql_host in the app's Secret (6446 while the app reaches sluice by sluice.dbaas.svc.cluster.local, before the takeover of mysql)."
  type        = number
  default     = 3306
}
