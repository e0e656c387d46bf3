//! Which handler serves a command, by its first byte.

use bytes::BytesMut;

use crate::metrics::count_error;
use crate::protocol::command::Command;
use crate::protocol::ok_err::ErrPacket;
use crate::session::client_session::{Session, SessionEnd};

/// What the session does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::session) enum After {
    /// Read the next command.
    Next,
    /// The client said goodbye (COM_QUIT).
    Close,
}

impl Session {
    /// Serves one command; `payload` is non-empty.
    pub(in crate::session) async fn dispatch(
        &mut self,
        payload: BytesMut,
    ) -> Result<After, SessionEnd> {
        let cmd = Command::from_byte(payload[0]);
        if self.answer_lost_transaction(cmd, &payload).await? {
            return Ok(After::Next);
        }
        match cmd {
            Command::Quit => return Ok(After::Close),
            Command::Ping => self.send_ok().await?,
            Command::StmtClose => self.close_statement(&payload),
            Command::SetOption => self.set_option(&payload).await?,
            Command::ProcessKill => self.process_kill(&payload).await?,
            Command::Query => self.query(payload).await?,
            Command::StmtPrepare => self.prepare(payload).await?,
            Command::ResetConnection => self.reset_connection().await?,
            Command::ChangeUser => self.refuse_change_user().await?,
            Command::Unsupported(_) => {
                count_error("unsupported_command");
                self.send_err(1, ErrPacket::new(1047, "08S01", "Unknown command"))
                    .await?;
            }
            _ => {
                self.no_reply = cmd.has_no_response();
                let served = self.forward(cmd, payload, false).await;
                self.no_reply = false;
                served?
            }
        }
        Ok(After::Next)
    }
}
