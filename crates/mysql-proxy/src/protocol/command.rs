//! The first byte of a client's command packet.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Quit,
    InitDb,
    Query,
    FieldList,
    Statistics,
    ProcessKill,
    Ping,
    ChangeUser,
    StmtPrepare,
    StmtExecute,
    StmtSendLongData,
    StmtClose,
    StmtReset,
    SetOption,
    StmtFetch,
    ResetConnection,
    /// Replication, debugging and other commands sluice does not relay.
    Unsupported(u8),
}

impl Command {
    pub fn from_byte(b: u8) -> Command {
        match b {
            0x01 => Command::Quit,
            0x02 => Command::InitDb,
            0x03 => Command::Query,
            0x04 => Command::FieldList,
            0x09 => Command::Statistics,
            0x0C => Command::ProcessKill,
            0x0E => Command::Ping,
            0x11 => Command::ChangeUser,
            0x16 => Command::StmtPrepare,
            0x17 => Command::StmtExecute,
            0x18 => Command::StmtSendLongData,
            0x19 => Command::StmtClose,
            0x1A => Command::StmtReset,
            0x1B => Command::SetOption,
            0x1C => Command::StmtFetch,
            0x1F => Command::ResetConnection,
            other => Command::Unsupported(other),
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            Command::Quit => 0x01,
            Command::InitDb => 0x02,
            Command::Query => 0x03,
            Command::FieldList => 0x04,
            Command::Statistics => 0x09,
            Command::ProcessKill => 0x0C,
            Command::Ping => 0x0E,
            Command::ChangeUser => 0x11,
            Command::StmtPrepare => 0x16,
            Command::StmtExecute => 0x17,
            Command::StmtSendLongData => 0x18,
            Command::StmtClose => 0x19,
            Command::StmtReset => 0x1A,
            Command::SetOption => 0x1B,
            Command::StmtFetch => 0x1C,
            Command::ResetConnection => 0x1F,
            Command::Unsupported(b) => b,
        }
    }

    /// Commands the server answers with nothing at all.
    pub fn has_no_response(self) -> bool {
        matches!(
            self,
            Command::Quit | Command::StmtClose | Command::StmtSendLongData
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        for b in 0..=0xFFu8 {
            assert_eq!(Command::from_byte(b).byte(), b);
        }
        assert_eq!(Command::from_byte(0x03), Command::Query);
        assert!(Command::StmtClose.has_no_response());
        assert!(!Command::StmtExecute.has_no_response());
    }
}
