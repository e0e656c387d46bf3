//! The console's commands, parsed from a simple query's text: keywords in any case,
//! an optional trailing semicolon, one command per query.

/// What SHOW can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Pools,
    Databases,
    Lists,
    Users,
    Version,
    Stats,
    Config,
    Clients,
    Servers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Show(View),
    /// Hold new transactions of one database (all without one) and wait for its
    /// server connections to come back.
    Pause(Option<String>),
    /// Let them go on.
    Resume(Option<String>),
    /// Close one database's server connections (all without one): the idle ones
    /// now, the others when they come back.
    Reconnect(Option<String>),
    /// End every client session of one database, close its server connections and
    /// hold its new transactions until RESUME.
    Kill(String),
    /// End one client session, by its id in SHOW CLIENTS.
    KillClient(u64),
    /// Re-read the configuration, as SIGHUP does.
    Reload,
    /// Drain and stop, as SIGTERM does.
    ShutdownWaitForClients,
    /// `SET ...`: accepted and ignored, as drivers send some at connect.
    Set,
}

impl Command {
    /// Whether a stats user (read-only) may run it.
    pub fn read_only(&self) -> bool {
        matches!(self, Command::Show(_) | Command::Set)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty query")]
    Empty,
    #[error("unknown command \"{0}\"")]
    UnknownCommand(String),
    #[error("unknown SHOW view \"{0}\" (POOLS, DATABASES, STATS, CLIENTS, SERVERS, LISTS, USERS, CONFIG, VERSION)")]
    UnknownView(String),
    #[error("usage: {0}")]
    Usage(&'static str),
}

pub fn parse(query: &str) -> Result<Command, ParseError> {
    let query = query.trim();
    let query = query.strip_suffix(';').unwrap_or(query);
    // Keywords in any case; a database name as written.
    let written: Vec<&str> = query.split_whitespace().collect();
    let words: Vec<String> = written.iter().map(|w| w.to_ascii_uppercase()).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let database = || written.get(1).map(|w| (*w).to_owned());
    match words.as_slice() {
        ["PAUSE"] | ["PAUSE", _] => Ok(Command::Pause(database())),
        ["PAUSE", ..] => Err(ParseError::Usage("PAUSE [db]")),
        ["RESUME"] | ["RESUME", _] => Ok(Command::Resume(database())),
        ["RESUME", ..] => Err(ParseError::Usage("RESUME [db]")),
        ["RECONNECT"] | ["RECONNECT", _] => Ok(Command::Reconnect(database())),
        ["RECONNECT", ..] => Err(ParseError::Usage("RECONNECT [db]")),
        ["KILL", _] => Ok(Command::Kill(written[1].to_owned())),
        ["KILL", ..] => Err(ParseError::Usage("KILL <db>")),
        ["KILL_CLIENT", id] => id
            .parse()
            .map(Command::KillClient)
            .map_err(|_| ParseError::Usage("KILL_CLIENT <id> (the id column of SHOW CLIENTS)")),
        ["KILL_CLIENT", ..] => Err(ParseError::Usage(
            "KILL_CLIENT <id> (the id column of SHOW CLIENTS)",
        )),
        [] => Err(ParseError::Empty),
        ["SHOW", view] => parse_view(view).map(Command::Show),
        ["SHOW", ..] => Err(ParseError::Usage("SHOW <view>")),
        ["RELOAD"] => Ok(Command::Reload),
        ["RELOAD", ..] => Err(ParseError::Usage("RELOAD")),
        ["SHUTDOWN", "WAIT_FOR_CLIENTS"] => Ok(Command::ShutdownWaitForClients),
        ["SHUTDOWN", ..] => Err(ParseError::Usage("SHUTDOWN WAIT_FOR_CLIENTS")),
        ["SET", ..] => Ok(Command::Set),
        [first, ..] => Err(ParseError::UnknownCommand(first.to_string())),
    }
}

fn parse_view(word: &str) -> Result<View, ParseError> {
    Ok(match word {
        "POOLS" => View::Pools,
        "DATABASES" => View::Databases,
        "LISTS" => View::Lists,
        "USERS" => View::Users,
        "VERSION" => View::Version,
        "STATS" => View::Stats,
        "CONFIG" => View::Config,
        "CLIENTS" => View::Clients,
        "SERVERS" => View::Servers,
        other => return Err(ParseError::UnknownView(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_in_any_case_with_an_optional_semicolon() {
        assert_eq!(parse("show pools"), Ok(Command::Show(View::Pools)));
        assert_eq!(
            parse("  SHOW Databases ;"),
            Ok(Command::Show(View::Databases))
        );
        assert_eq!(parse("show lists;"), Ok(Command::Show(View::Lists)));
        assert_eq!(parse("SHOW USERS"), Ok(Command::Show(View::Users)));
        assert_eq!(parse("show version"), Ok(Command::Show(View::Version)));
        assert_eq!(parse("show stats"), Ok(Command::Show(View::Stats)));
        assert_eq!(parse("SHOW CONFIG"), Ok(Command::Show(View::Config)));
        assert_eq!(parse("show clients"), Ok(Command::Show(View::Clients)));
        assert_eq!(parse("SHOW SERVERS;"), Ok(Command::Show(View::Servers)));
        assert_eq!(parse("kill AppDB"), Ok(Command::Kill("AppDB".into())));
        assert_eq!(parse("KILL_CLIENT 42;"), Ok(Command::KillClient(42)));
        assert_eq!(parse("reload;"), Ok(Command::Reload));
        assert_eq!(
            parse("shutdown wait_for_clients"),
            Ok(Command::ShutdownWaitForClients)
        );
        assert_eq!(parse("SET application_name = 'psql'"), Ok(Command::Set));
        assert_eq!(parse("pause"), Ok(Command::Pause(None)));
        assert_eq!(
            parse("PAUSE AppDB;"),
            Ok(Command::Pause(Some("AppDB".into())))
        );
        assert_eq!(
            parse("resume appdb"),
            Ok(Command::Resume(Some("appdb".into())))
        );
        assert_eq!(parse("RESUME"), Ok(Command::Resume(None)));
        assert_eq!(parse("reconnect"), Ok(Command::Reconnect(None)));
        assert_eq!(
            parse("RECONNECT appdb"),
            Ok(Command::Reconnect(Some("appdb".into())))
        );
    }

    #[test]
    fn malformed_commands() {
        assert_eq!(parse(" ; "), Err(ParseError::Empty));
        assert_eq!(
            parse("show tables"),
            Err(ParseError::UnknownView("TABLES".into()))
        );
        assert!(matches!(parse("show"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("show pools now"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("shutdown"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("reload all"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("pause a b"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("kill"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("kill_client"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("kill_client x1"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("kill_client -3"), Err(ParseError::Usage(_))));
        assert_eq!(
            parse("select 1"),
            Err(ParseError::UnknownCommand("SELECT".into()))
        );
    }

    #[test]
    fn only_show_and_set_are_read_only() {
        assert!(Command::Show(View::Pools).read_only());
        assert!(Command::Set.read_only());
        assert!(!Command::Reload.read_only());
        assert!(!Command::Pause(None).read_only());
        assert!(!Command::Resume(None).read_only());
        assert!(!Command::Reconnect(None).read_only());
        assert!(!Command::ShutdownWaitForClients.read_only());
        assert!(!Command::Kill("app".into()).read_only());
        assert!(!Command::KillClient(1).read_only());
        assert!(Command::Show(View::Clients).read_only());
    }
}
