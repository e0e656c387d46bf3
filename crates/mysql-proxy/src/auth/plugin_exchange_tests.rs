//! Tests of the plugin exchange: each path a client can take through it, fed the
//! packets a client would send.

use std::sync::Arc;

use super::*;

const SCRAMBLE: [u8; SCRAMBLE_LEN] = *b"abcdefghijklmnopqrst";
const PASSWORD: &[u8] = b"s3cret";

fn hashes() -> (native::Hash, caching_sha2::Hash) {
    (
        native::stored_hash(PASSWORD),
        caching_sha2::stored_hash(PASSWORD),
    )
}

/// 0xFE, the plugin's name and the scramble, each NUL-terminated.
fn switch_payload(plugin: &str) -> Vec<u8> {
    let mut p = vec![0xFE];
    p.extend_from_slice(plugin.as_bytes());
    p.push(0);
    p.extend_from_slice(&SCRAMBLE);
    p.push(0);
    p
}

fn accepted(fast_auth_notice: bool) -> Action {
    Action::Done(Outcome::Accepted { fast_auth_notice })
}

fn check(password: &[u8]) -> Action {
    Action::Done(Outcome::CheckPassword(Zeroizing::new(password.to_vec())))
}

const DENIED: Action = Action::Done(Outcome::Denied { why: None });

#[test]
fn native_answer_checked_against_the_native_hash() {
    let (n, s) = hashes();
    let answer = native::scramble(PASSWORD, &SCRAMBLE);
    let mut x = PluginExchange::new(SCRAMBLE, false, true, Some(&n), Some(&s));
    assert_eq!(x.start(Some(NATIVE), &answer), accepted(false));
    let mut x = PluginExchange::new(SCRAMBLE, false, true, Some(&n), Some(&s));
    let wrong = native::scramble(b"other", &SCRAMBLE);
    assert_eq!(x.start(Some(NATIVE), &wrong), DENIED);
    // No plugin named: mysql_native_password, as servers assume.
    let mut x = PluginExchange::new(SCRAMBLE, false, true, Some(&n), Some(&s));
    assert_eq!(x.start(None, &answer), accepted(false));
}

#[test]
fn caching_sha2_fast_path_sends_the_notice() {
    let (n, s) = hashes();
    let answer = caching_sha2::scramble(PASSWORD, &SCRAMBLE);
    let mut x = PluginExchange::new(SCRAMBLE, false, true, Some(&n), Some(&s));
    assert_eq!(x.start(Some(CACHING_SHA2), &answer), accepted(true));
    let wrong = caching_sha2::scramble(b"other", &SCRAMBLE);
    let mut x = PluginExchange::new(SCRAMBLE, false, true, Some(&n), Some(&s));
    assert_eq!(x.start(Some(CACHING_SHA2), &wrong), DENIED);
}

#[test]
fn unknown_user_is_denied_without_a_round_trip() {
    let mut x = PluginExchange::new(SCRAMBLE, true, false, None, None);
    assert_eq!(x.start(Some(CACHING_SHA2), b"anything"), DENIED);
}

#[test]
fn empty_answer_asks_by_name_with_the_same_scramble() {
    let (n, s) = hashes();
    let mut x = PluginExchange::new(SCRAMBLE, false, true, Some(&n), Some(&s));
    assert_eq!(
        x.start(Some(NATIVE), &[]),
        Action::Send(switch_payload(NATIVE))
    );
    let answer = native::scramble(PASSWORD, &SCRAMBLE);
    assert_eq!(x.receive(&answer), accepted(false));

    let mut x = PluginExchange::new(SCRAMBLE, false, true, None, Some(&s));
    assert_eq!(
        x.start(Some(NATIVE), &[]),
        Action::Send(switch_payload(CACHING_SHA2))
    );
    let answer = caching_sha2::scramble(PASSWORD, &SCRAMBLE);
    assert_eq!(x.receive(&answer), accepted(true));
}

#[test]
fn native_only_account_switches_caching_sha2_clients() {
    let (n, _) = hashes();
    let mut x = PluginExchange::new(SCRAMBLE, false, true, Some(&n), None);
    let first = caching_sha2::scramble(PASSWORD, &SCRAMBLE);
    assert_eq!(
        x.start(Some(CACHING_SHA2), &first),
        Action::Send(switch_payload(NATIVE))
    );
    assert_eq!(x.receive(&native::scramble(b"other", &SCRAMBLE)), DENIED);
}

#[test]
fn other_plugins_are_switched_to_caching_sha2() {
    let (n, s) = hashes();
    let mut x = PluginExchange::new(SCRAMBLE, false, true, Some(&n), Some(&s));
    assert_eq!(
        x.start(Some("auth_gssapi_client"), b"token"),
        Action::Send(switch_payload(CACHING_SHA2))
    );
    // Clear password without TLS is not taken either.
    let mut x = PluginExchange::new(SCRAMBLE, false, true, Some(&n), Some(&s));
    assert_eq!(
        x.start(Some(CLEAR), b"s3cret\0"),
        Action::Send(switch_payload(CACHING_SHA2))
    );
}

#[test]
fn clear_password_over_tls_is_checked_whole() {
    let (n, s) = hashes();
    let mut x = PluginExchange::new(SCRAMBLE, true, true, Some(&n), Some(&s));
    assert_eq!(x.start(Some(CLEAR), b"s3cret\0"), check(PASSWORD));
}

#[test]
fn full_authentication_over_tls_takes_the_password() {
    // No SHA-256 hash (a SCRAM verifier only): every answer takes the full path.
    let mut x = PluginExchange::new(SCRAMBLE, true, true, None, None);
    assert_eq!(
        x.start(Some(CACHING_SHA2), &[1; 32]),
        Action::Send(vec![0x01, caching_sha2::PERFORM_FULL_AUTH])
    );
    assert_eq!(x.receive(b"s3cret\0"), check(PASSWORD));
    // Nothing more is expected.
    assert!(matches!(
        x.receive(b"more"),
        Action::Done(Outcome::Denied { why: Some(_) })
    ));
}

#[test]
fn full_authentication_without_tls_goes_through_the_rsa_key() {
    let key = Arc::new(RsaKey::generate());
    let encrypted = super::super::rsa_exchange::encrypt_password(
        key.public_pem().as_bytes(),
        PASSWORD,
        &SCRAMBLE,
    )
    .unwrap();

    // The client asks for the key first.
    let mut x = PluginExchange::new(SCRAMBLE, false, true, None, None);
    assert_eq!(
        x.start(Some(CACHING_SHA2), b"x"),
        Action::Send(vec![0x01, caching_sha2::PERFORM_FULL_AUTH])
    );
    assert_eq!(
        x.receive(&[caching_sha2::REQUEST_PUBLIC_KEY]),
        Action::NeedRsaKey
    );
    let mut pem = vec![0x01];
    pem.extend_from_slice(key.public_pem().as_bytes());
    assert_eq!(x.with_rsa_key(key.clone()), Action::Send(pem));
    let action = x.receive(&encrypted);
    assert_eq!(x.decrypted(decrypt(action)), check(PASSWORD));

    // A client that has the key sends the encrypted password at once.
    let mut x = PluginExchange::new(SCRAMBLE, false, true, None, None);
    x.start(Some(CACHING_SHA2), b"x");
    assert_eq!(x.receive(&encrypted), Action::NeedRsaKey);
    let action = x.with_rsa_key(key.clone());
    assert_eq!(x.decrypted(decrypt(action)), check(PASSWORD));

    // Anything else does not decrypt.
    let mut x = PluginExchange::new(SCRAMBLE, false, true, None, None);
    x.start(Some(CACHING_SHA2), b"x");
    assert_eq!(x.receive(b"s3cret\0"), Action::NeedRsaKey);
    let action = x.with_rsa_key(key);
    assert!(matches!(
        x.decrypted(decrypt(action)),
        Action::Done(Outcome::Denied { why: Some(_) })
    ));
    // A result nobody asked for is refused.
    assert!(matches!(
        x.decrypted(None),
        Action::Done(Outcome::Denied { why: Some(_) })
    ));
}

/// Runs the decryption an action asks for, as the session does off the event loop.
fn decrypt(action: Action) -> Option<Zeroizing<Vec<u8>>> {
    match action {
        Action::Decrypt(d) => d.run(),
        other => panic!("expected a decryption, got {other:?}"),
    }
}

#[test]
fn empty_full_path_answer_is_denied() {
    let mut x = PluginExchange::new(SCRAMBLE, true, true, None, None);
    assert_eq!(
        x.start(Some(CACHING_SHA2), &[]),
        Action::Send(switch_payload(CACHING_SHA2))
    );
    assert_eq!(x.receive(&[]), DENIED);
}

#[test]
fn auth_switch_reads_back_without_the_nul_after_the_scramble() {
    // What server/connect.rs reads of a server's switch, from what sluice sends.
    let payload = switch_payload(NATIVE);
    let switch: mysql_common::packets::AuthSwitchRequest<'_> =
        mysql_common::io::ParseBuf(&payload).parse(()).unwrap();
    assert_eq!(switch.auth_plugin().as_bytes(), NATIVE.as_bytes());
    assert_eq!(switch.plugin_data(), SCRAMBLE);
}
