output "protocol" {
  value = var.protocol
}

output "role_name" {
  description = "The Vault role sluice reads for this app (also for file routes: the role to create later)."
  value       = local.role_name
}

output "database" {
  value = local.database
}

output "route_toml" {
  description = "The app's sluice route: a [postgres.databases.*] or [mysql.databases.*] table."
  value = templatefile("${path.module}/route.toml.tftpl", {
    section     = local.section
    database    = local.database
    cluster     = local.cluster
    pool_mode   = var.pool_mode
    pool_size   = var.pool_size
    user        = var.name
    credentials = local.credentials_toml
  })
}

output "user_toml" {
  description = "The app's entry of sluice's users file."
  sensitive   = true
  value = templatefile("${path.module}/user.toml.tftpl", {
    user     = var.name
    password = random_password.sluice.result
  })
}

output "vault_policy" {
  description = "The line of sluice's Vault policy for this app (empty for a file route)."
  value       = local.creds_path == "" ? "" : "path \"${local.creds_path}\" {\n  capabilities = [\"read\"]\n}\n"
}

output "dynamic" {
  description = "Whether sluice holds leases for this app (its policy then needs sys/leases/*)."
  value       = var.credentials == "dynamic"
}
