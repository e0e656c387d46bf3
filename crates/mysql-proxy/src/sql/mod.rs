//! Reading the SQL text clients send: a lexer for MySQL's and MariaDB's lexical rules,
//! and the classification of statements by what they leave on a server connection.

pub mod classify;
pub mod lexer;
