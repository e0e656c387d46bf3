//! Tests of parsing the users file.

use super::*;

// PostgreSQL's verifier for password "pencil" with RFC 7677's salt.
const PENCIL: &str = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

fn user_err(text: &str) -> (String, String) {
    match Users::parse(text).unwrap_err() {
        UsersError::User { user, message } => (user, message),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn parses_all_kinds_of_secret() {
    let users = Users::parse(&format!(
        "[users.alice]\npassword = \"wonderland\"\n\n\
         [users.bob]\nscram_verifier = \"{PENCIL}\"\n\n\
         [users.carol]\nmd5 = \"md5A0B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5\"\npassword = \"x\"\n"
    ))
    .unwrap();
    assert_eq!(users.len(), 3);
    assert!(!users.is_empty());
    let alice = users.get("alice").unwrap();
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.password.as_ref().unwrap().expose(), "wonderland");
    assert!(alice.scram.is_none() && alice.md5.is_none());

    let bob = users.get("bob").unwrap();
    let v = bob.scram.as_ref().unwrap();
    assert_eq!(v.iterations, 4096);
    assert_eq!(
        v.salt,
        [
            0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36,
            0xfa, 0x81
        ]
    );
    assert_eq!(&v.stored_key[..4], &[0x58, 0x6e, 0x5d, 0xf2]);
    assert_eq!(v.server_key[31], 0xd5);
    assert!(bob.password.is_none());

    let carol = users.get("carol").unwrap();
    assert_eq!(
        carol.md5.as_ref().unwrap().expose(),
        "md5a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
    );
    assert!(users.get("dave").is_none());
    let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
}

#[test]
fn quoted_and_dotted_names() {
    let users =
        Users::parse("[users.\"Mixed Case\"]\npassword = \"p\"\n[users]\nplain = { md5 = \"md5ffffffffffffffffffffffffffffffff\" }\n")
            .unwrap();
    assert!(users.get("Mixed Case").is_some());
    assert!(users.get("plain").unwrap().md5.is_some());
}

#[test]
fn empty_file_has_no_users() {
    assert!(Users::parse("").unwrap().is_empty());
    assert!(Users::parse("# nothing\n[users]\n").unwrap().is_empty());
}

#[test]
fn user_without_secret() {
    let (user, msg) = user_err("[users.alice]\n");
    assert_eq!(user, "alice");
    assert!(msg.contains("at least one"), "{msg}");
}

#[test]
fn malformed_verifiers_name_the_user_not_the_secret() {
    let bad = [
        "SCRAM-SHA-1$4096:c2FsdA==$a:b",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",
        "SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==$a:b",
        "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22Z*J0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4q==:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
    ];
    for v in bad {
        let (user, msg) = user_err(&format!("[users.bob]\nscram_verifier = \"{v}\"\n"));
        assert_eq!(user, "bob");
        assert!(msg.starts_with("malformed scram_verifier"), "{msg}");
        assert!(!msg.contains("W22Z") && !msg.contains("WG5d"), "{msg}");
    }
}

#[test]
fn malformed_md5() {
    for v in [
        "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5",
        "md5a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d",
        "md5a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4dz",
        "md5a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5a",
    ] {
        let (user, msg) = user_err(&format!("[users.eve]\nmd5 = \"{v}\"\n"));
        assert_eq!(user, "eve");
        assert!(msg.contains("malformed md5"), "{msg}");
        assert!(!msg.contains("a0b1"), "{msg}");
    }
}

#[test]
fn unknown_keys_and_wrong_types() {
    let (user, msg) = user_err("[users.alice]\npasword = \"secret-value\"\n");
    assert_eq!(user, "alice");
    assert!(msg.contains("unknown key \"pasword\""), "{msg}");
    assert!(!msg.contains("secret-value"));

    let (_, msg) = user_err("[users.alice]\npassword = 123456\n");
    assert!(msg.contains("must be a string"), "{msg}");
    assert!(!msg.contains("123456"), "{msg}");

    let (_, msg) = user_err("[users.alice]\npassword = \"\"\n");
    assert!(msg.contains("empty"), "{msg}");

    let (user, msg) = user_err("[users]\nalice = \"secret-value\"\n");
    assert_eq!(user, "alice");
    assert!(!msg.contains("secret-value"), "{msg}");

    for text in ["[user.alice]\npassword = \"p\"\n", "users = 3\n", "x = 1\n"] {
        assert!(
            matches!(Users::parse(text), Err(UsersError::Structure(_))),
            "{text}"
        );
    }
}

#[test]
fn syntax_errors_have_position_but_no_content() {
    let err = Users::parse("[users.alice]\npassword = \"top-secret\n").unwrap_err();
    let UsersError::Syntax { line, .. } = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(*line, 2);
    let shown = err.to_string();
    assert!(!shown.contains("top-secret"), "{shown}");

    let err =
        Users::parse("[users.alice]\npassword = \"a\"\npassword = \"top-secret\"\n").unwrap_err();
    assert!(!err.to_string().contains("top-secret"), "{err}");
    assert!(!format!("{err:?}").contains("top-secret"), "{err:?}");
}

#[test]
fn debug_output_is_redacted() {
    let users = Users::parse(&format!(
        "[users.a]\npassword = \"hunter2\"\nscram_verifier = \"{PENCIL}\"\nmd5 = \"md5ffffffffffffffffffffffffffffffff\"\n"
    ))
    .unwrap();
    let shown = format!("{users:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("ffff"), "{shown}");
    assert!(!shown.contains("88, 110"), "{shown}");
}

#[test]
fn load_from_file() {
    let dir = std::env::temp_dir().join(format!(
        "sluice-users-test-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users.toml");
    std::fs::write(&path, "[users.app]\npassword = \"change-me\"\n").unwrap();
    let users = Users::load(&path).unwrap();
    assert_eq!(users.len(), 1);

    std::fs::write(&path, "[users.app]\n").unwrap();
    let err = Users::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("users.toml") && err.contains("user \"app\""),
        "{err}"
    );

    let missing = dir.join("missing.toml");
    let err = Users::load(&missing).unwrap_err();
    assert!(matches!(err, UsersError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.toml"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mysql_hashes_are_checked_and_normalised() {
    let users = Users::parse(
        "[users.shlink]\nmysql_native_password = \"*2470c0c06dee42fd1618bb99005adca2ec9d1e19\"\n\
         mysql_sha256 = \"AB00000000000000000000000000000000000000000000000000000000000000\"\n",
    )
    .unwrap();
    let u = users.get("shlink").unwrap();
    assert_eq!(
        u.mysql_native.as_ref().unwrap().expose(),
        "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
    );
    assert!(u
        .mysql_sha256
        .as_ref()
        .unwrap()
        .expose()
        .starts_with("ab00"));
    for bad in [
        "mysql_native_password = \"2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\"",
        "mysql_native_password = \"*2470C0\"",
        "mysql_sha256 = \"zz\"",
    ] {
        let err = Users::parse(&format!("[users.x]\n{bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("malformed mysql"), "{err}");
        assert!(!err.contains("2470"), "the value leaked into: {err}");
    }
}

#[test]
fn admin_and_stats_flags() {
    let users = Users::parse(
        "[users.ops]\npassword = \"x\"\nadmin = true\n\n\
         [users.watcher]\npassword = \"x\"\nstats = true\n\n\
         [users.app]\npassword = \"x\"\nadmin = false\n",
    )
    .unwrap();
    let ops = users.get("ops").unwrap();
    assert!(ops.admin && !ops.stats && ops.console_access());
    let watcher = users.get("watcher").unwrap();
    assert!(!watcher.admin && watcher.stats && watcher.console_access());
    assert!(!users.get("app").unwrap().console_access());
    let (user, message) = user_err("[users.ops]\npassword = \"x\"\nadmin = \"yes\"\n");
    assert_eq!(user, "ops");
    assert!(message.contains("admin must be true or false"), "{message}");
    // A flag is no secret: the user still needs one.
    let (_, message) = user_err("[users.ops]\nadmin = true\n");
    assert!(message.contains("needs at least one"), "{message}");
}
