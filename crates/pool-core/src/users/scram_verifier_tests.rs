//! Tests of parsing, deriving and printing SCRAM-SHA-256 verifiers.

use super::*;

// RFC 7677's salt, and PostgreSQL's verifier of the password "pencil" with it.
const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const PENCIL: &str = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

fn pencil() -> ScramVerifier {
    ScramVerifier::from_password("pencil", &STANDARD.decode(RFC_SALT).unwrap(), 4096)
}

/// PENCIL is RFC 7677's example verifier, of the password "pencil".
#[test]
fn a_scram_verifier_checks_a_password_received_whole() {
    let v = ScramVerifier::parse(PENCIL).unwrap();
    assert!(v.matches_password(b"pencil"));
    assert!(!v.matches_password(b"pencil "));
    assert!(!v.matches_password(b""));
}

#[test]
fn verifier_text_round_trip() {
    let v = pencil();
    assert_eq!(v.to_text(), PENCIL);
    let parsed = ScramVerifier::parse(PENCIL).unwrap();
    assert_eq!(parsed, v);
    assert_eq!(parsed.to_text(), PENCIL);
    let other = ScramVerifier::from_password("pencil", b"another salt", 10);
    assert_eq!(ScramVerifier::parse(&other.to_text()).unwrap(), other);
}

#[test]
fn verifier_debug_is_redacted() {
    let shown = format!("{:?}", pencil());
    assert!(shown.contains("4096"), "{shown}");
    assert!(
        !shown.contains("stored_key") && !shown.contains("88"),
        "{shown}"
    );
}

#[test]
fn malformed_verifiers() {
    let k = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
    let cases = [
        String::new(),
        "SCRAM-SHA-256$".into(),
        format!("SCRAM-SHA-1$4096:{RFC_SALT}${k}:{k}"),
        format!("scram-sha-256$4096:{RFC_SALT}${k}:{k}"),
        format!("SCRAM-SHA-256$4096:{RFC_SALT}${k}"),
        format!("SCRAM-SHA-256$4096{RFC_SALT}${k}:{k}"),
        format!("SCRAM-SHA-256$:{RFC_SALT}${k}:{k}"),
        format!("SCRAM-SHA-256$0:{RFC_SALT}${k}:{k}"),
        format!("SCRAM-SHA-256$+5:{RFC_SALT}${k}:{k}"),
        format!("SCRAM-SHA-256$4294967296:{RFC_SALT}${k}:{k}"),
        format!("SCRAM-SHA-256$4096:$${k}:{k}"),
        format!("SCRAM-SHA-256$4096::{k}:{k}"),
        format!("SCRAM-SHA-256$4096:{RFC_SALT}${k}:{}", &k[..40]),
        format!("SCRAM-SHA-256$4096:{RFC_SALT}${k}:{k}AAAA"),
        format!("SCRAM-SHA-256$4096:not*base64${k}:{k}"),
        format!("SCRAM-SHA-256$4096:{RFC_SALT}${k}:{k}$extra"),
    ];
    for text in &cases {
        assert!(ScramVerifier::parse(text).is_err(), "{text:?}");
    }
}

#[test]
fn base64_strictness() {
    assert_eq!(base64_decode("").unwrap(), b"");
    assert_eq!(base64_decode("Zg==").unwrap(), b"f");
    assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
    assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
    assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
    for bad in [
        "Zg", "Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm 9", "Zm9v\n",
    ] {
        assert!(base64_decode(bad).is_none(), "{bad:?}");
    }
}
