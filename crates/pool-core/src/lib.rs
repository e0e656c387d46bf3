//! Protocol-agnostic runtime of sluice: the pool, credential sources, client access
//! rules, users, secrets and shutdown signalling.

pub mod credentials;
pub mod hba;
pub mod net;
pub mod pool;
pub mod secret;
pub mod shutdown;
pub mod users;
pub mod worker;
