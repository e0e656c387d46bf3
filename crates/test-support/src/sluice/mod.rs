//! The real `sluice` binary in end-to-end tests, the same way for both protocols: a
//! config file written from the pieces every test configuration shares, the process
//! with its log and admin listener, and its access to a test OpenBao.

mod config;
mod process;
mod vault;

pub use config::{DatabaseConfig, ProtocolConfig, SluiceConfig};
pub use process::{http_get, try_http_get, PanicLog, SluiceProcess};
pub use vault::SluiceVault;
