//! Character sets and collations by the id a handshake carries, for the common ones:
//! what a client asked for, so that sluice can give it the same on any connection.

/// `(character set, collation)` for a collation id; `None` for ids sluice does not
/// know, whose clients keep whatever the server connection has.
pub fn by_id(id: u8) -> Option<(&'static str, &'static str)> {
    Some(match id {
        8 => ("latin1", "latin1_swedish_ci"),
        33 => ("utf8mb3", "utf8mb3_general_ci"),
        45 => ("utf8mb4", "utf8mb4_general_ci"),
        46 => ("utf8mb4", "utf8mb4_bin"),
        47 => ("latin1", "latin1_bin"),
        63 => ("binary", "binary"),
        83 => ("utf8mb3", "utf8mb3_bin"),
        192 => ("utf8mb3", "utf8mb3_unicode_ci"),
        224 => ("utf8mb4", "utf8mb4_unicode_ci"),
        255 => ("utf8mb4", "utf8mb4_0900_ai_ci"),
        _ => return None,
    })
}

/// The collation sluice opens server connections with.
pub const DEFAULT: u8 = 45;

#[cfg(test)]
mod tests {
    #[test]
    fn known_and_unknown() {
        assert_eq!(super::by_id(45), Some(("utf8mb4", "utf8mb4_general_ci")));
        assert_eq!(super::by_id(2), None);
    }
}
