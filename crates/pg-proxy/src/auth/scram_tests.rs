//! Tests of the SCRAM-SHA-256 server exchange: RFC 7677's vector, exchanges with
//! postgres-protocol's client, and malformed or out-of-order messages.

use super::*;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

// RFC 7677, section 3.
const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const RFC_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const RFC_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// The same password and salt in PostgreSQL's pg_authid format.
const PENCIL_VERIFIER: &str = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

fn pencil() -> ScramVerifier {
    ScramVerifier::from_password("pencil", &STANDARD.decode(RFC_SALT).unwrap(), 4096)
}

/// The RFC's exchange; the verifier is parsed rather than derived, which keeps
/// tests that run many exchanges fast in debug builds.
fn rfc_server() -> ScramServer {
    let verifier = ScramVerifier::parse(PENCIL_VERIFIER).unwrap();
    ScramServer::with_nonce(verifier, RFC_SERVER_NONCE)
}

#[test]
fn rfc7677_test_vector() {
    let mut server = ScramServer::with_nonce(pencil(), RFC_SERVER_NONCE);
    let first = server.client_first(RFC_CLIENT_FIRST.as_bytes()).unwrap();
    assert_eq!(first, RFC_SERVER_FIRST);
    assert!(!server.is_done());
    let last = server.client_final(RFC_CLIENT_FINAL.as_bytes()).unwrap();
    assert_eq!(last, RFC_SERVER_FINAL);
    assert!(server.is_done());
    // Nothing more is accepted.
    assert_eq!(
        server.client_final(RFC_CLIENT_FINAL.as_bytes()),
        Err(ScramError::OutOfSequence)
    );
}

/// Runs a whole exchange with postgres-protocol's client.
fn exchange(
    verifier: ScramVerifier,
    password: &str,
    binding: ChannelBinding,
) -> Result<(), ScramError> {
    let mut client = ScramSha256::new(password.as_bytes(), binding);
    let mut server = ScramServer::new(verifier);
    let first = server.client_first(client.message())?;
    client
        .update(first.as_bytes())
        .expect("client accepts server-first");
    let last = server.client_final(client.message())?;
    client
        .finish(last.as_bytes())
        .expect("client verifies the server signature");
    assert!(server.is_done());
    Ok(())
}

#[test]
fn exchange_with_postgres_protocol_client() {
    let salt: [u8; 16] = rand::random();
    let v = ScramVerifier::from_password("correct horse", &salt, 4096);
    exchange(v.clone(), "correct horse", ChannelBinding::unrequested()).unwrap();
    exchange(v.clone(), "correct horse", ChannelBinding::unsupported()).unwrap();
    assert_eq!(
        exchange(v.clone(), "wrong horse", ChannelBinding::unrequested()),
        Err(ScramError::InvalidProof)
    );
    assert_eq!(
        exchange(v.clone(), "", ChannelBinding::unsupported()),
        Err(ScramError::InvalidProof)
    );
    assert_eq!(
        exchange(
            v,
            "correct horse",
            ChannelBinding::tls_server_end_point(vec![1, 2, 3])
        ),
        Err(ScramError::ChannelBinding)
    );
    exchange(pencil(), "pencil", ChannelBinding::unrequested()).unwrap();
    let parsed = ScramVerifier::parse(PENCIL_VERIFIER).unwrap();
    exchange(parsed, "pencil", ChannelBinding::unsupported()).unwrap();
}

#[test]
fn server_nonce_is_random_base64() {
    let mut a = ScramServer::new(pencil());
    let mut b = ScramServer::new(pencil());
    let fa = a.client_first(b"n,,n=,r=abc").unwrap();
    let fb = b.client_first(b"n,,n=,r=abc").unwrap();
    assert_ne!(fa, fb);
    let nonce = fa.strip_prefix("r=abc").unwrap().split(',').next().unwrap();
    assert_eq!(nonce.len(), 24);
    assert_eq!(STANDARD.decode(nonce).unwrap().len(), SERVER_NONCE_LEN);
}

#[test]
fn gs2_header_y_and_extensions_are_accepted() {
    let mut server = rfc_server();
    let first = server.client_first(b"y,,n=ignored,r=abc,x=ext").unwrap();
    assert!(first.starts_with("r=abc%hvYD"), "{first}");
    // c= must echo "y,," (eSws), not "n,," (biws).
    let mut s2 = rfc_server();
    s2.client_first(b"y,,n=,r=abc").unwrap();
    let nonce = format!("abc{RFC_SERVER_NONCE}");
    let msg = format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    assert_eq!(
        s2.client_final(msg.as_bytes()),
        Err(ScramError::ChannelBindingMismatch)
    );
    let msg = format!("c=eSws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    assert_eq!(
        server.client_final(msg.as_bytes()),
        Err(ScramError::InvalidProof)
    );
}

#[test]
fn malformed_client_first_is_rejected() {
    let cases: &[(&[u8], ScramError)] = &[
        (b"", ScramError::Malformed("missing GS2 header")),
        (b"n", ScramError::Malformed("missing GS2 header")),
        (b"n,", ScramError::Malformed("missing GS2 header")),
        (b"n,,", ScramError::Malformed("expected username attribute")),
        (
            b"n,,n=user",
            ScramError::Malformed("expected nonce attribute"),
        ),
        (
            b"n,,n=user,",
            ScramError::Malformed("expected nonce attribute"),
        ),
        (
            b"n,,n=user,r=",
            ScramError::Malformed("invalid client nonce"),
        ),
        (
            b"n,,n=user,r=a b",
            ScramError::Malformed("invalid client nonce"),
        ),
        (
            b"n,,r=abc",
            ScramError::Malformed("expected username attribute"),
        ),
        (
            b"n,,n=user,x=1,r=abc",
            ScramError::Malformed("expected nonce attribute"),
        ),
        (
            b"n,,n=user,r=abc,",
            ScramError::Malformed("invalid attribute"),
        ),
        (
            b"n,,n=user,r=abc,==",
            ScramError::Malformed("invalid attribute"),
        ),
        (
            b"x,,n=user,r=abc",
            ScramError::Malformed("invalid GS2 channel binding flag"),
        ),
        (
            b"p=tls-server-end-point,,n=,r=abc",
            ScramError::ChannelBinding,
        ),
        (
            b"n,a=admin,n=user,r=abc",
            ScramError::Unsupported("authorization identity"),
        ),
        (
            b"n,b,n=user,r=abc",
            ScramError::Malformed("invalid GS2 authorization identity"),
        ),
        (
            b"n,,m=ext,n=user,r=abc",
            ScramError::Unsupported("mandatory extension"),
        ),
        (
            b"n,,n=\xff,r=abc",
            ScramError::Malformed("client-first-message is not UTF-8"),
        ),
    ];
    for (msg, want) in cases {
        let mut server = rfc_server();
        assert_eq!(
            server.client_first(msg).as_ref(),
            Err(want),
            "{:?}",
            String::from_utf8_lossy(msg)
        );
        // A failed exchange cannot go on.
        assert_eq!(
            server.client_final(RFC_CLIENT_FINAL.as_bytes()),
            Err(ScramError::OutOfSequence)
        );
    }
}

#[test]
fn malformed_client_final_is_rejected() {
    let nonce = format!("rOprNGfwEbeRWgbNEkqO{RFC_SERVER_NONCE}");
    let proof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    let cases: Vec<(String, ScramError)> = vec![
        (
            String::new(),
            ScramError::Malformed("expected proof attribute"),
        ),
        (
            format!("c=biws,r={nonce}"),
            ScramError::Malformed("expected proof attribute"),
        ),
        (
            format!("c=biws,r={nonce},p="),
            ScramError::Malformed("proof has the wrong length"),
        ),
        (
            format!("c=biws,r={nonce},p={}", &proof[..21]),
            ScramError::Malformed("invalid base64 in proof"),
        ),
        (
            format!("c=biws,r={nonce},p=AAAA"),
            ScramError::Malformed("proof has the wrong length"),
        ),
        (
            format!("c=biws,r={nonce},p={proof},x=1"),
            ScramError::Malformed("proof must be the last attribute"),
        ),
        (
            format!("r={nonce},p={proof}"),
            ScramError::Malformed("expected channel binding attribute"),
        ),
        (
            format!("c=b!ws,r={nonce},p={proof}"),
            ScramError::Malformed("invalid base64 in channel binding"),
        ),
        (
            format!("c=eSws,r={nonce},p={proof}"),
            ScramError::ChannelBindingMismatch,
        ),
        (
            format!("c=,r={nonce},p={proof}"),
            ScramError::ChannelBindingMismatch,
        ),
        (
            format!("c=biws,p={proof}"),
            ScramError::Malformed("expected nonce attribute"),
        ),
        (
            format!("c=biws,r=rOprNGfwEbeRWgbNEkqO,p={proof}"),
            ScramError::NonceMismatch,
        ),
        (
            format!("c=biws,r={nonce}x,p={proof}"),
            ScramError::NonceMismatch,
        ),
        (
            format!("c=biws,r=XOprNGfwEbeRWgbNEkqO{RFC_SERVER_NONCE},p={proof}"),
            ScramError::NonceMismatch,
        ),
        (
            format!("c=biws,r={nonce},bad,p={proof}"),
            ScramError::Malformed("invalid attribute"),
        ),
        (
            format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVE="),
            ScramError::InvalidProof,
        ),
    ];
    for (msg, want) in cases {
        let mut server = rfc_server();
        server.client_first(RFC_CLIENT_FIRST.as_bytes()).unwrap();
        assert_eq!(server.client_final(msg.as_bytes()), Err(want), "{msg:?}");
        assert!(!server.is_done());
        // No second attempt within the same exchange.
        assert_eq!(
            server.client_final(RFC_CLIENT_FINAL.as_bytes()),
            Err(ScramError::OutOfSequence)
        );
    }
    // An extension before the proof is part of the signed message: accepted in
    // form, so the (now wrong) proof is what fails.
    let mut server = rfc_server();
    server.client_first(RFC_CLIENT_FIRST.as_bytes()).unwrap();
    let msg = format!("c=biws,r={nonce},x=1,p={proof}");
    assert_eq!(
        server.client_final(msg.as_bytes()),
        Err(ScramError::InvalidProof)
    );
}

#[test]
fn messages_out_of_order() {
    let mut server = rfc_server();
    assert_eq!(
        server.client_final(RFC_CLIENT_FINAL.as_bytes()),
        Err(ScramError::OutOfSequence)
    );
    let mut server = rfc_server();
    server.client_first(RFC_CLIENT_FIRST.as_bytes()).unwrap();
    assert_eq!(
        server.client_first(RFC_CLIENT_FIRST.as_bytes()),
        Err(ScramError::OutOfSequence)
    );
}

#[test]
fn random_garbage_never_panics() {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..2000 {
        let len = rng.gen_range(0..64);
        let mut msg: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if rng.gen_bool(0.5) {
            // Mostly-valid shapes reach deeper into the parser.
            let prefix: &[u8] = if rng.gen_bool(0.5) {
                b"n,,n=,"
            } else {
                b"c=biws,r="
            };
            msg.splice(0..0, prefix.iter().copied());
        }
        let mut server = rfc_server();
        let _ = server.client_first(&msg);
        let mut server = rfc_server();
        server.client_first(RFC_CLIENT_FIRST.as_bytes()).unwrap();
        let _ = server.client_final(&msg);
        let _ = ScramVerifier::parse(&String::from_utf8_lossy(&msg));
    }
}
