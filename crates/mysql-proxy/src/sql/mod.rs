//! Reading the SQL text clients send: a lexer for MySQL's and MariaDB's lexical rules,
//! the classification of statements by what they leave on a server connection, and
//! what a query does to the transaction it runs in.

pub mod classify;
pub mod lexer;
pub mod transaction;
