terraform {
  required_version = ">= 1.3"
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
    # Builds the kustomize overlay and applies its objects one by one (no Helm).
    kustomization = {
      source = "kbst/kustomization"
    }
  }
}
