variable "namespace" {
  description = "Namespace of sluice; the overlay sets the same."
  type        = string
  default     = "dbaas"
}

variable "overlay_path" {
  description = "The kustomize overlay of the workload (Deployment, Services, PDB, NetworkPolicy, ServiceMonitor, ServiceAccount)."
  type        = string
}

variable "apps" {
  description = "The sluice-app modules of the apps sluice serves (pass the module objects)."
  type = list(object({
    name         = string
    protocol     = string
    credentials  = string
    templatable  = bool
    route_toml   = string
    user_toml    = string
    vault_policy = string
    dynamic      = bool
  }))
}

variable "wildcard_credentials" {
  description = "The kind of Vault role of each protocol's wildcard route: \"static\" (the cluster's apps today) or \"dynamic\". An app with the other kind gets a route of its own."
  type        = string
  default     = "static"
  validation {
    condition     = contains(["static", "dynamic"], var.wildcard_credentials)
    error_message = "wildcard_credentials: \"static\" or \"dynamic\"."
  }
}

variable "pool_size" {
  description = "pool_size of [postgres.defaults] and [mysql.defaults]: server connections per replica of each app that sets none."
  type        = number
  default     = 10
}

variable "workers" {
  description = "[runtime] workers: the CPU limit of the sluice container."
  type        = number
  default     = 2
}

variable "vault_address" {
  type    = string
  default = "http://vault-active.vault.svc.cluster.local:8200"
}

variable "vault_kubernetes_auth_backend" {
  type    = string
  default = "kubernetes"
}

variable "hba_conf" {
  description = "sluice's access rules (pg_hba.conf lines)."
  type        = string
  default     = "host all all 10.0.0.0/8 scram-sha-256\nhost all all all        reject\n"
}

variable "db_passwords" {
  description = "Current database passwords of the apps with file routes (app name => password), until each has a Vault static role."
  type        = map(string)
  default     = {}
  sensitive   = true
}
