//! Prepared statements in transaction pooling. A client's named statement is mapped to
//! a statement shared by every client of the route, keyed by query text and parameter
//! types, under a name sluice chooses. Any server connection can then serve it: sluice
//! prepares it there first when the connection lacks it.
//!
//! DDL can change what a statement's text means (a dropped and recreated type, a new
//! column behind `*`). A direct client that prepares the text again after DDL gets a
//! fresh plan; so that a client here does too, a completed CREATE, ALTER or DROP starts
//! a new schema generation, and a Parse after it gets a new shared statement under a new
//! name. Clients still holding the old one keep it, with PostgreSQL's own answer to a
//! changed result ("cached plan must not change result type").

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use super::pin::PinReason;
use super::settings::SessionCommand;
use crate::protocol::frontend::{write_parse, ParseView};
use crate::sql::classify::classify_query;
use crate::sql::trusted::TrustedFunctions;

/// A statement shared by the clients of one route.
#[derive(Debug)]
pub struct SharedStatement {
    pub id: u64,
    /// The server-side name.
    pub name: Bytes,
    /// A ready-to-send Parse under `name`, injected where a server lacks the statement.
    pub parse: Bytes,
    /// Session commands the statement contains (a prepared `SET`).
    pub commands: Option<Arc<[SessionCommand]>>,
    /// The schema generation it was interned in.
    generation: u64,
}

/// Per-route table of shared statements. Every session of the route looks statements up
/// here, so the map is sharded rather than behind one lock.
#[derive(Debug)]
pub struct StatementRegistry {
    by_key: DashMap<Bytes, Arc<SharedStatement>>,
    /// Random per registry, part of every server-side name, so that no client can
    /// predict the name of a statement another client's text was prepared under.
    name_tag: u64,
    /// The route's trusted functions, for the statements' classification.
    trusted: TrustedFunctions,
    next_id: AtomicU64,
    /// The size at which unused entries are pruned next: doubled when a pruning frees
    /// little, so that a table full of statements clients still hold is not scanned
    /// at every new Parse.
    prune_at: AtomicUsize,
    /// Bumped by DDL: statements of older generations are not handed to new Parses.
    generation: AtomicU64,
}

impl Default for StatementRegistry {
    fn default() -> Self {
        Self::new(TrustedFunctions::default())
    }
}

impl StatementRegistry {
    pub fn new(trusted: TrustedFunctions) -> Self {
        Self {
            by_key: DashMap::new(),
            name_tag: rand::random(),
            trusted,
            next_id: AtomicU64::new(0),
            prune_at: AtomicUsize::new(REGISTRY_SOFT_LIMIT),
            generation: AtomicU64::new(0),
        }
    }
}

/// Entries beyond this are pruned when no client holds them any more.
const REGISTRY_SOFT_LIMIT: usize = 10_000;

impl StatementRegistry {
    /// The shared statement for a client's Parse.
    pub fn intern(&self, parse: &ParseView<'_>) -> Arc<SharedStatement> {
        let mut key = BytesMut::with_capacity(parse.query.len() + parse.param_types.len() + 1);
        key.put_slice(parse.query);
        key.put_u8(0);
        key.put_slice(parse.param_types);
        let key = key.freeze();
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(s) = self.by_key.get(&key) {
            if s.generation == generation {
                return s.clone();
            }
        }
        if self.by_key.len() >= self.prune_at.load(Ordering::Relaxed) {
            // Outside any entry guard: pruning locks every shard.
            self.by_key.retain(|_, s| Arc::strong_count(s) > 1);
            let next = (self.by_key.len() * 2).max(REGISTRY_SOFT_LIMIT);
            self.prune_at.store(next, Ordering::Relaxed);
        }
        // The entry holds its shard locked, so one Parse text gets one id.
        match self.by_key.entry(key) {
            Entry::Occupied(e) if e.get().generation == generation => e.get().clone(),
            Entry::Occupied(mut e) => {
                let s = self.new_statement(parse, generation);
                e.insert(s.clone());
                s
            }
            Entry::Vacant(e) => {
                let s = self.new_statement(parse, generation);
                e.insert(s.clone());
                s
            }
        }
    }

    fn new_statement(&self, parse: &ParseView<'_>, generation: u64) -> Arc<SharedStatement> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let name = self.name_of(id);
        let commands = commands_of(parse.query, false, &self.trusted);
        // A refused text is prepared as the stand-in that fails with its error.
        let query = match commands.as_deref() {
            Some([SessionCommand::Refuse(refusal)]) => refusal.stand_in_sql().as_bytes(),
            _ => parse.query,
        };
        let mut frame = BytesMut::new();
        write_parse(&mut frame, &name, query, parse.param_types);
        Arc::new(SharedStatement {
            id,
            name,
            parse: frame.freeze(),
            commands,
            generation,
        })
    }

    /// A client's DDL completed: later Parses get statements prepared after it.
    pub fn schema_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The server-side name of the shared statement `id`.
    pub fn name_of(&self, id: u64) -> Bytes {
        Bytes::from(format!("sluice_{:016x}_{id}", self.name_tag))
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a CommandComplete tag is DDL that can change what a statement's text means.
pub fn changes_schema(tag: &[u8]) -> bool {
    tag.starts_with(b"CREATE") || tag.starts_with(b"ALTER") || tag.starts_with(b"DROP")
}

/// Session commands in a statement's text, if any (`backslash_escapes`: the client has
/// `standard_conforming_strings` off). Text that is not UTF-8 (a client encoding such
/// as LATIN1) is read with its other bytes as letters, as PostgreSQL's lexer takes
/// them; a setting it changes cannot be replayed as text, so it pins instead.
pub fn commands_of(
    query: &[u8],
    backslash_escapes: bool,
    trusted: &TrustedFunctions,
) -> Option<Arc<[SessionCommand]>> {
    if crate::sql::inert::is_plainly_inert(query) {
        return None;
    }
    let (text, utf8) = match std::str::from_utf8(query) {
        Ok(text) => (std::borrow::Cow::Borrowed(text), true),
        Err(_) => (String::from_utf8_lossy(query), false),
    };
    let mut effects = classify_query(&text, backslash_escapes, trusted);
    if memchr::memchr(b'\\', query).is_some() {
        // Whether a backslash escapes depends on standard_conforming_strings, which
        // the server may see otherwise than sluice's record of it (a role's default,
        // SET LOCAL, a SET not answered yet): what either reading pins or refuses, does.
        let other = classify_query(&text, !backslash_escapes, trusted);
        effects.pin = effects.pin.or(other.pin);
        effects.refuse = effects.refuse.or(other.refuse);
    }
    if let Some(refusal) = effects.refuse {
        return Some(Arc::from([SessionCommand::Refuse(refusal)]));
    }
    let mut cmds = effects.commands;
    if !utf8 && !cmds.is_empty() {
        cmds.clear();
        cmds.push(SessionCommand::Pin(PinReason::Unreadable));
    }
    if let Some(why) = effects.pin {
        // First, so that the client is pinned before anything else is looked at.
        cmds.insert(0, SessionCommand::Pin(why));
    }
    (!cmds.is_empty()).then(|| cmds.into())
}

#[cfg(test)]
#[path = "statements_tests.rs"]
mod tests;
