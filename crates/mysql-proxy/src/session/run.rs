//! A session's command loop: reading each command while watching for shutdown and
//! KILL, checking its framing, then handing it to the dispatcher.

use bytes::BytesMut;
use pool_core::shutdown::Phase;

use super::client_session::{Session, SessionEnd};
use super::commands::After;
use super::lost_transaction::server_gone;
use crate::io::{read_split_payload, ReadError};
use crate::metrics::count_error;
use crate::protocol::ok_err::ErrPacket;

/// How long a killed client is given to take its error.
const KILL_NOTICE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// What a client ended by an administrator (KILL_CLIENT, KILL) is told.
pub(super) fn killed_by_admin() -> ErrPacket {
    ErrPacket::new(1927, "70100", "Connection was killed by the administrator")
}

/// Sleeps for `d`, or forever without one.
async fn sleep_or_never(d: Option<std::time::Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

impl Session {
    pub(super) async fn run(&mut self) -> Result<(), SessionEnd> {
        // Made once for the whole session: they are watched while every command is read.
        let mut draining = self.fe.shutdown.clone();
        let mut closing = self.fe.shutdown.clone();
        let kill = self.kill.clone();
        let drained = draining.reached(Phase::Draining);
        let closed = closing.reached(Phase::Closing);
        let killed = kill.close_requested.notified();
        let ended_by_admin = self.listing.kill_signal();
        tokio::pin!(drained, closed, killed, ended_by_admin);
        loop {
            let idle = self.server.is_none() || !self.state.in_transaction;
            let idle_timeout = self
                .route
                .settings
                .idle_in_transaction_timeout
                .filter(|_| !idle);
            // A server connection held by an idle transaction is watched: when its
            // server goes away the session can go on, without the transaction.
            let watch = self.can_lose_only_the_transaction();
            let read = tokio::select! {
                r = read_split_payload(&mut self.client, &mut self.client_buf, self.fe.max_packet) => r,
                why = server_gone(self.server.as_mut()), if watch => {
                    self.server_gone_between_commands(why).await?;
                    continue;
                }
                _ = &mut killed => return Ok(()),
                _ = &mut ended_by_admin => return self.ended_by_admin().await,
                _ = &mut drained, if idle => return self.shutting_down().await,
                _ = &mut closed => return self.shutting_down().await,
                _ = sleep_or_never(idle_timeout) => return self.idle_in_transaction_too_long().await,
            };
            let Some(payload) = self.command_packet(read).await? else {
                return Ok(());
            };
            if self.listing.is_killed() {
                // The kill and the command came together: the command does not run.
                return self.ended_by_admin().await;
            }
            self.listing.requested();
            if self.dispatch(payload).await? == After::Close {
                return Ok(());
            }
        }
    }

    /// sluice is stopping and the client is between transactions (or the grace is
    /// over): it is told with the server's own shutdown error, which drivers and
    /// pools take as a cue to reconnect, read as the answer to its next command.
    async fn shutting_down(&mut self) -> Result<(), SessionEnd> {
        tracing::debug!(peer = %self.peer, user = %self.user, "sluice is stopping; MySQL client told to go");
        let _ = self.send_err(1, ErrPacket::server_shutdown()).await;
        Ok(())
    }

    /// An administrator ended the session (KILL_CLIENT, KILL): the client reads why
    /// as the answer to its next command; a transaction it had open is rolled back.
    async fn ended_by_admin(&mut self) -> Result<(), SessionEnd> {
        tracing::info!(peer = %self.peer, user = %self.user, route = %self.route.name, client_id = self.listing.id,
            "MySQL session ended by the administrator");
        // A client that reads nothing is given little time: its transaction is rolled
        // back (or its server connection closed) only after this.
        let notice = self.send_err(1, killed_by_admin());
        let _ = tokio::time::timeout(KILL_NOTICE_TIMEOUT, notice).await;
        Ok(())
    }

    /// Over `idle_in_transaction_timeout`: the client is told why (read as the answer
    /// to its next command, with MySQL's code for a disconnection for inactivity), and
    /// the session ends;
    /// its transaction is rolled back before the server connection serves anyone else.
    async fn idle_in_transaction_too_long(&mut self) -> Result<(), SessionEnd> {
        count_error("idle_in_transaction_timeout");
        tracing::info!(peer = %self.peer, user = %self.user, route = %self.route.name,
            "MySQL client idle in a transaction for longer than idle_in_transaction_timeout; disconnected");
        let err = ErrPacket::new(
            4031,
            "HY000",
            "The client was disconnected by sluice because it was idle inside a transaction \
             for longer than idle_in_transaction_timeout",
        );
        // Sequence 1: drivers read it as the answer to their next command, and show it.
        let _ = self.send_err(1, err).await;
        Ok(())
    }

    /// The payload of a well-framed command; `None` when the client closed the
    /// connection. A malformed one is answered with an error and ends the session.
    async fn command_packet(
        &mut self,
        read: Result<(u8, u8, BytesMut), ReadError>,
    ) -> Result<Option<BytesMut>, SessionEnd> {
        let (seq, last_seq, payload) = match read {
            Ok(p) => p,
            Err(ReadError::Closed) => return Ok(None),
            Err(ReadError::TooLarge(n)) => {
                count_error("packet_too_large");
                let message = format!(
                    "Got a packet bigger than 'max_allowed_packet' bytes ({n} > {})",
                    self.fe.max_packet
                );
                self.send_err(1, ErrPacket::new(1153, "08S01", message))
                    .await?;
                return Err(SessionEnd::Protocol("a packet over the size limit"));
            }
            Err(ReadError::Io(e)) => return Err(e.into()),
        };
        if seq != 0 {
            count_error("protocol");
            self.send_err(
                last_seq.wrapping_add(1),
                ErrPacket::new(1156, "08S01", "Got packets out of order"),
            )
            .await?;
            return Err(SessionEnd::Protocol(
                "a command with a non-zero sequence id",
            ));
        }
        if payload.is_empty() {
            count_error("protocol");
            let err = ErrPacket::new(
                1835,
                "08S01",
                "Malformed communication packet: empty command",
            );
            self.send_err(1, err).await?;
            return Err(SessionEnd::Protocol("an empty command packet"));
        }
        self.route
            .metrics
            .bytes_from_clients
            .increment(payload.len() as u64 + 4);
        Ok(Some(payload))
    }
}
