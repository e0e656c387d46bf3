//! COM_PROCESS_KILL and `KILL [QUERY|CONNECTION] id`: the id is one sluice gave, so
//! the kill registry maps it to the session and server connection it names.

use crate::protocol::ok_err::ErrPacket;
use crate::session::client_session::{Session, SessionEnd};

impl Session {
    pub(super) async fn process_kill(&mut self, payload: &[u8]) -> Result<(), SessionEnd> {
        let target = payload
            .get(1..5)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        match target {
            Some(id) => self.kill(id, true).await,
            None => {
                let err = ErrPacket::new(1835, "08S01", "Malformed communication packet");
                self.send_err(1, err).await
            }
        }
    }

    pub(super) async fn kill(&mut self, target: u32, connection: bool) -> Result<(), SessionEnd> {
        match self.fe.kills.kill(&self.user, target, connection).await {
            Ok(()) => self.send_ok().await,
            Err(e) => self.send_err(1, e).await,
        }
    }
}
