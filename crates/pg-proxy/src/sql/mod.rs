//! Reading the SQL that clients send, for what transaction mode needs to know of it:
//! a lexer for PostgreSQL's SQL (`lexer.rs`), the built-in functions that leave no
//! session state (`builtin_functions.rs`), and what a query does to its session
//! (`classify.rs`, with the words it looks for in `words.rs`; `inert.rs` answers first for
//! plain statements). Pure code: no I/O, no session types.

pub mod builtin_functions;
pub mod classify;
pub mod inert;
pub mod lexer;
pub mod transaction_end;
pub mod trusted;
pub mod words;
