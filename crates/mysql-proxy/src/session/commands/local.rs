//! COM_SET_OPTION, answered by sluice itself: the option is client state, replayed on
//! whichever server connection serves the client's next command.

use crate::protocol::ok_err::{encode_eof, ErrPacket};
use crate::session::client_session::{Session, SessionEnd};

impl Session {
    pub(super) async fn set_option(&mut self, payload: &[u8]) -> Result<(), SessionEnd> {
        match payload.get(1..3).map(|b| u16::from_le_bytes([b[0], b[1]])) {
            Some(0) => self.state.multi_statements = true,
            Some(1) => self.state.multi_statements = false,
            _ => {
                let err = ErrPacket::new(1047, "08S01", "Unknown COM_SET_OPTION value");
                return self.send_err(1, err).await;
            }
        }
        let st = self.status();
        encode_eof(&mut self.out, 1, st);
        self.flush().await
    }
}
