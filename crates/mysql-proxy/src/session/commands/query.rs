//! COM_QUERY: the text is classified by its tokens first. A `KILL` is carried out by
//! sluice's kill registry, a statement sluice cannot let through is answered with an
//! error, and everything else runs on a server connection, pinning the client first
//! when it leaves session state the server does not report.

use bytes::BytesMut;

use crate::metrics::count_error;
use crate::protocol::command::Command;
use crate::protocol::ok_err::ErrPacket;
use crate::session::client_session::{Session, SessionEnd};
use crate::sql::classify::{classify, Verdict};
use crate::state::pin::Refusal;

impl Session {
    pub(super) async fn query(&mut self, payload: BytesMut) -> Result<(), SessionEnd> {
        let c = classify(&payload[1..]);
        match c.verdict {
            Verdict::Kill { id, connection } => return self.kill(id, connection).await,
            Verdict::Refuse(r) => return self.refuse(r).await,
            Verdict::Pin(why) => self.pin(why),
            Verdict::Harmless => {}
        }
        self.forward(Command::Query, payload, c.reads_last_insert_id)
            .await
    }

    /// Answers a statement sluice does not send to the server with
    /// ER_NOT_SUPPORTED_YET.
    pub(super) async fn refuse(&mut self, r: Refusal) -> Result<(), SessionEnd> {
        tracing::warn!(peer = %self.peer, route = %self.route.name, user = %self.user, refusal = r.as_str(), "statement refused");
        count_error(r.as_str());
        let message = format!("This version of sluice doesn't yet support '{}'", r.what());
        self.send_err(1, ErrPacket::new(1235, "42000", message))
            .await
    }
}
