output "sluice_toml" {
  description = "The configuration the ConfigMap holds; check it with `sluice check`."
  value       = local.sluice_toml
}
