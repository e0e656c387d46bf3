//! A session's entry in SHOW CLIENTS, made once the client is welcomed.

use std::net::SocketAddr;

use pool_core::activity::{ClientInfo, ClientListing};

use super::relay::SessionInfo;
use crate::cancel::Registration;
use crate::frontend::Frontend;
use crate::state::settings::SettingValue;
use crate::stream::Stream;

/// Lists the client of route `route` until the returned listing is dropped.
pub(super) fn list_client(
    fe: &Frontend,
    peer: SocketAddr,
    stream: &Stream,
    info: &SessionInfo,
    route: &str,
    cancel: &Registration,
) -> ClientListing {
    let application_name = match info.base_settings.get("application_name") {
        Some(SettingValue::Text(v)) => v.clone(),
        _ => String::new(),
    };
    fe.activity.add_client(ClientInfo {
        protocol: "postgres",
        user: info.user.clone(),
        database: route.to_owned(),
        peer,
        tls: stream.is_tls(),
        application_name,
        wire_id: cancel.slot.process_id as u32,
    })
}
