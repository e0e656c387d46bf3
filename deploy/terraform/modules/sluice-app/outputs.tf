output "name" {
  description = "The app: its sluice user, and its name in a wildcard route's allow list."
  value       = var.name
}

output "protocol" {
  value = var.protocol
}

output "credentials" {
  description = "\"static\", \"dynamic\" or \"file\"."
  value       = var.credentials
}

output "templatable" {
  description = "Whether the app's route is the wildcard route of its protocol filled in with its name (a Vault role, no option of its own): deploy/terraform/sluice then lists the name instead of writing route_toml out."
  value       = local.templatable
}

output "role_name" {
  description = "The Vault role sluice reads for this app (also for file routes: the role to create later)."
  value       = local.role_name
}

output "database" {
  value = local.database
}

output "route_toml" {
  description = "The app's route written out: a [postgres.databases.<database>] or [mysql.databases.<database>] table with the options the app sets (the others come from the section's defaults)."
  value = templatefile("${path.module}/route.toml.tftpl", {
    section     = local.section
    database    = local.database
    cluster     = var.cluster
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
