//! Protocol-agnostic runtime of sluice: the pool, credential sources, client access
//! rules, users, secrets and shutdown signalling.

pub mod activity;
pub mod credentialed;
pub mod credentials;
pub mod frontend;
pub mod hba;
pub mod mode;
pub mod net;
pub mod peers;
pub mod pool;
pub mod route_metrics;
pub mod secret;
pub mod session_keys;
pub mod shutdown;
pub mod tally;
pub mod users;
pub mod worker;
