//! Credentials from HashiCorp Vault or OpenBao's database secrets engine: static roles
//! (one database user whose password Vault rotates) and dynamic roles (a generated user
//! per lease). sluice logs in to Vault itself, keeps its token alive, and refreshes
//! credentials ahead of rotations and lease ends, so apps never hold a database password.

mod client;
mod dynamic_role;
mod endpoints;
mod error;
mod metrics;
mod retry;
mod role;
mod settings;
mod static_role;
mod task;

pub use client::{Vault, VaultStatus};
pub use dynamic_role::DynamicRoleSource;
pub use error::VaultError;
pub use settings::{TokenFrom, VaultAuth, VaultSettings};
pub use static_role::StaticRoleSource;
