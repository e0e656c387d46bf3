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
    protocol     = string
    route_toml   = string
    user_toml    = string
    vault_policy = string
    dynamic      = bool
  }))
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
