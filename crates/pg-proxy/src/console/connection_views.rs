//! SHOW CLIENTS and SHOW SERVERS: one row per connection, with PgBouncer's column
//! names where a column means the same thing. `id` is what KILL_CLIENT takes and what
//! `link` refers to: a client's server connection, a server connection's client.

use std::sync::Arc;
use std::time::SystemTime;

use pool_core::activity::{from_micros, ClientEntry, ServerEntry};

use super::result_set::{int, text, Kind, Table};

pub fn clients(clients: &[Arc<ClientEntry>]) -> Table {
    let mut t = Table::new(&[
        ("type", Kind::Text),
        ("user", Kind::Text),
        ("database", Kind::Text),
        ("protocol", Kind::Text),
        ("state", Kind::Text),
        ("addr", Kind::Text),
        ("port", Kind::Int),
        ("connect_time", Kind::Text),
        ("request_time", Kind::Text),
        ("wait", Kind::Int),
        ("wait_us", Kind::Int),
        ("link", Kind::Int),
        ("process_id", Kind::Int),
        ("tls", Kind::Text),
        ("application_name", Kind::Text),
        ("id", Kind::Int),
    ]);
    let now = SystemTime::now();
    for c in clients {
        let waited = from_micros(c.wait_since())
            .and_then(|since| now.duration_since(since).ok())
            .unwrap_or_default();
        let i = &c.info;
        t.row(vec![
            text("C"),
            text(&i.user),
            text(&i.database),
            text(i.protocol),
            text(c.state().as_str()),
            text(i.peer.ip().to_string()),
            int(usize::from(i.peer.port())),
            text(timestamp(c.connected_at)),
            from_micros(c.request_at()).map(timestamp),
            int(waited.as_secs() as usize),
            int(waited.subsec_micros() as usize),
            c.server().map(|id| id.to_string()),
            int(i.wire_id as usize),
            yes_no(i.tls),
            text(&i.application_name),
            text(c.id.to_string()),
        ]);
    }
    t
}

pub fn servers(servers: &[Arc<ServerEntry>]) -> Table {
    let mut t = Table::new(&[
        ("type", Kind::Text),
        ("user", Kind::Text),
        ("database", Kind::Text),
        ("protocol", Kind::Text),
        ("state", Kind::Text),
        ("addr", Kind::Text),
        ("port", Kind::Int),
        ("local_addr", Kind::Text),
        ("local_port", Kind::Int),
        ("connect_time", Kind::Text),
        ("request_time", Kind::Text),
        ("link", Kind::Int),
        ("remote_pid", Kind::Int),
        ("tls", Kind::Text),
        ("id", Kind::Int),
    ]);
    for s in servers {
        let i = &s.info;
        t.row(vec![
            text("S"),
            text(&i.user),
            text(&i.database),
            text(i.protocol),
            text(s.state().as_str()),
            text(i.addr.ip().to_string()),
            int(usize::from(i.addr.port())),
            i.local.map(|a| a.ip().to_string()),
            i.local.map(|a| a.port().to_string()),
            text(timestamp(s.connected_at)),
            from_micros(s.lent_at()).map(timestamp),
            s.client().map(|id| id.to_string()),
            int(i.remote_pid as usize),
            yes_no(i.tls),
            text(s.id.to_string()),
        ]);
    }
    t
}

fn yes_no(b: bool) -> Option<String> {
    text(if b { "yes" } else { "no" })
}

/// `YYYY-MM-DD HH:MM:SS UTC`, as PgBouncer shows times.
fn timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_date(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (the days-from-civil
/// algorithm run backwards, on 400-year eras).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_times() {
        let at = |secs| timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 is a leap day of a century year divisible by 400.
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(at(1_798_761_599), "2026-12-31 23:59:59 UTC");
        assert_eq!(at(4_107_542_400), "2100-03-01 00:00:00 UTC");
    }
}
