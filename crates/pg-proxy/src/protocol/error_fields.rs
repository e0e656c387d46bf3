//! Reading the fields of an ErrorResponse or NoticeResponse body.

/// The fields sluice acts on. Unknown fields are skipped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ErrorFields {
    pub severity: String,
    pub code: String,
    pub message: String,
}

impl ErrorFields {
    /// Decodes the body (after tag and length). Tolerates truncation: missing fields stay empty.
    pub fn parse(body: &[u8]) -> Self {
        let mut f = ErrorFields::default();
        let mut rest = body;
        while let Some((&kind, after)) = rest.split_first() {
            if kind == 0 {
                break;
            }
            let Some(nul) = after.iter().position(|&b| b == 0) else {
                break;
            };
            let value = String::from_utf8_lossy(&after[..nul]).into_owned();
            match kind {
                b'V' => f.severity = value,
                b'S' if f.severity.is_empty() => f.severity = value,
                b'C' => f.code = value,
                b'M' => f.message = value,
                _ => {}
            }
            rest = &after[nul + 1..];
        }
        f
    }

    /// True for `cached plan must not change result type` (SQLSTATE 0A000), which a
    /// shared prepared statement raises after a schema change.
    pub fn is_stale_cached_plan(&self) -> bool {
        self.code == "0A000"
            && self
                .message
                .contains("cached plan must not change result type")
    }

    /// True for errors that mean the server connection must not be reused.
    pub fn is_fatal(&self) -> bool {
        self.severity == "FATAL" || self.severity == "PANIC"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_survives_truncation() {
        let body = b"SERROR\0VERROR\0C0A000\0Mcached plan must not change result type\0\0";
        let f = ErrorFields::parse(body);
        assert!(f.is_stale_cached_plan());
        assert!(!f.is_fatal());
        let f = ErrorFields::parse(&body[..20]);
        assert_eq!(f.severity, "ERROR");
        assert_eq!(f.code, "");
    }
}
