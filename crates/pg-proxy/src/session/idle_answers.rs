//! Requests sluice answers without a server connection, between transactions.
//!
//! A client that prepares a named statement outside a transaction (Parse + Sync) gets
//! ParseComplete and ReadyForQuery at once; the statement is prepared on a server when
//! the client first binds it. This keeps clients that prepare synchronously (libpq's
//! PQprepare, as pgbench -M prepared does) from holding up a whole thread while the pool
//! is busy; the price is that a syntax error surfaces at the first Bind instead.

use super::error::{SessionError, CLIENT_MESSAGE_LIMIT};
use super::relay::Relay;
use crate::protocol::backend;
use crate::protocol::frame::{complete_frame, HEADER_LEN};
use crate::protocol::frontend::ParseView;
use crate::protocol::tags::{frontend as tag, TxStatus};
use crate::route::PoolMode;

impl Relay {
    /// Answers leading `Parse(named)… Sync` groups. Returns true when it answered any.
    pub(super) fn answer_parses_without_server(&mut self) -> Result<bool, SessionError> {
        // In session mode the client's server answers, as a direct connection would.
        if self.view.tx_status != TxStatus::Idle
            || self.route.settings.mode != PoolMode::Transaction
        {
            return Ok(false);
        }
        let mut answered = false;
        while let Some(group_len) = self.parse_sync_group()? {
            let group = self.client.input.split_to(group_len);
            let mut at = 0;
            while at < group.len() {
                let h = complete_frame(&group[at..], CLIENT_MESSAGE_LIMIT)
                    .map_err(|e| SessionError::ClientProtocol(e.to_string()))?
                    .expect("checked complete");
                let body = &group[at + HEADER_LEN..at + h.frame_len()];
                if h.tag == tag::PARSE {
                    let parse = ParseView::decode(body)
                        .map_err(|e| SessionError::ClientProtocol(e.to_string()))?;
                    let shared = self.route.statements.intern(&parse);
                    self.view
                        .statements
                        .insert(bytes::Bytes::copy_from_slice(parse.name), shared);
                    backend::parse_complete(&mut self.client.output);
                } else {
                    backend::ready_for_query(&mut self.client.output, self.view.tx_status);
                }
                at += h.frame_len();
            }
            answered = true;
            tracing::trace!("answered Parse/Sync without a server");
        }
        Ok(answered)
    }

    /// Length of a leading group of named Parse messages ended by Sync, when the whole
    /// group is buffered.
    fn parse_sync_group(&self) -> Result<Option<usize>, SessionError> {
        let mut at = 0;
        let mut names: Vec<&[u8]> = Vec::new();
        loop {
            let Some(h) = complete_frame(&self.client.input[at..], CLIENT_MESSAGE_LIMIT)
                .map_err(|e| SessionError::ClientProtocol(e.to_string()))?
            else {
                return Ok(None);
            };
            let body = &self.client.input[at + HEADER_LEN..at + h.frame_len()];
            match h.tag {
                // A name in use (before or in this group) gets PostgreSQL's error
                // from the server.
                tag::PARSE => match ParseView::decode(body) {
                    Ok(p)
                        if !p.name.is_empty()
                            && self.view.statements.get(p.name).is_none()
                            && !names.contains(&p.name) =>
                    {
                        names.push(p.name)
                    }
                    _ => return Ok(None),
                },
                tag::SYNC if !names.is_empty() => return Ok(Some(at + h.frame_len())),
                _ => return Ok(None),
            }
            at += h.frame_len();
        }
    }
}
