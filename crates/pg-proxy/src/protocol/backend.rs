//! Builders for the backend messages that sluice itself writes to clients.

use bytes::{BufMut, BytesMut};

use super::tags::{auth, backend, TxStatus};

/// Appends a tagged message whose body is written by `body`.
pub fn put_message(out: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    out.put_u8(tag);
    let len_at = out.len();
    out.put_u32(0);
    body(out);
    let len = (out.len() - len_at) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

fn put_cstr(out: &mut BytesMut, s: &[u8]) {
    out.put_slice(s);
    out.put_u8(0);
}

pub fn authentication_ok(out: &mut BytesMut) {
    put_message(out, backend::AUTHENTICATION, |b| b.put_i32(auth::OK));
}

pub fn authentication_md5(out: &mut BytesMut, salt: [u8; 4]) {
    put_message(out, backend::AUTHENTICATION, |b| {
        b.put_i32(auth::MD5);
        b.put_slice(&salt);
    });
}

pub fn authentication_sasl(out: &mut BytesMut, mechanisms: &[&str]) {
    put_message(out, backend::AUTHENTICATION, |b| {
        b.put_i32(auth::SASL);
        for m in mechanisms {
            put_cstr(b, m.as_bytes());
        }
        b.put_u8(0);
    });
}

pub fn authentication_sasl_continue(out: &mut BytesMut, data: &[u8]) {
    put_message(out, backend::AUTHENTICATION, |b| {
        b.put_i32(auth::SASL_CONTINUE);
        b.put_slice(data);
    });
}

pub fn authentication_sasl_final(out: &mut BytesMut, data: &[u8]) {
    put_message(out, backend::AUTHENTICATION, |b| {
        b.put_i32(auth::SASL_FINAL);
        b.put_slice(data);
    });
}

pub fn parameter_status(out: &mut BytesMut, name: &str, value: &str) {
    put_message(out, backend::PARAMETER_STATUS, |b| {
        put_cstr(b, name.as_bytes());
        put_cstr(b, value.as_bytes());
    });
}

pub fn backend_key_data(out: &mut BytesMut, process_id: i32, secret_key: i32) {
    put_message(out, backend::BACKEND_KEY_DATA, |b| {
        b.put_i32(process_id);
        b.put_i32(secret_key);
    });
}

/// Appends a NotificationResponse `frame` (whole, header included) with its sender's
/// process id `from` replaced by `to`; other senders' notifications are appended as
/// they are.
pub fn notification_with_sender(out: &mut BytesMut, frame: &[u8], from: i32, to: i32) {
    const PID_AT: usize = 5;
    match frame.get(PID_AT..PID_AT + 4) {
        Some(pid) if pid == from.to_be_bytes() => {
            out.put_slice(&frame[..PID_AT]);
            out.put_i32(to);
            out.put_slice(&frame[PID_AT + 4..]);
        }
        _ => out.put_slice(frame),
    }
}

pub fn ready_for_query(out: &mut BytesMut, status: TxStatus) {
    put_message(out, backend::READY_FOR_QUERY, |b| {
        b.put_u8(status.as_byte())
    });
}

pub fn parse_complete(out: &mut BytesMut) {
    put_message(out, backend::PARSE_COMPLETE, |_| {});
}

pub fn close_complete(out: &mut BytesMut) {
    put_message(out, backend::CLOSE_COMPLETE, |_| {});
}

pub fn command_complete(out: &mut BytesMut, tag: &str) {
    put_message(out, backend::COMMAND_COMPLETE, |b| {
        put_cstr(b, tag.as_bytes())
    });
}

/// Severity of an ErrorResponse written by sluice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
        }
    }
}

/// An ErrorResponse with severity (localised and not), SQLSTATE and message.
pub fn error_response(out: &mut BytesMut, severity: Severity, code: &str, message: &str) {
    put_message(out, backend::ERROR_RESPONSE, |b| {
        b.put_u8(b'S');
        put_cstr(b, severity.as_str().as_bytes());
        b.put_u8(b'V');
        put_cstr(b, severity.as_str().as_bytes());
        b.put_u8(b'C');
        put_cstr(b, code.as_bytes());
        b.put_u8(b'M');
        put_cstr(b, message.as_bytes());
        b.put_u8(0);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error_fields::ErrorFields;
    use crate::protocol::frame::complete_frame;

    fn notification(pid: i32) -> BytesMut {
        let mut out = BytesMut::new();
        put_message(&mut out, backend::NOTIFICATION_RESPONSE, |b| {
            b.put_i32(pid);
            put_cstr(b, b"foo");
            put_cstr(b, b"payload");
        });
        out
    }

    #[test]
    fn a_notification_of_the_given_sender_gets_the_new_process_id() {
        let mut out = BytesMut::new();
        notification_with_sender(&mut out, &notification(4242), 4242, 77);
        assert_eq!(out, notification(77));
    }

    #[test]
    fn a_notification_of_another_sender_is_kept() {
        let mut out = BytesMut::new();
        notification_with_sender(&mut out, &notification(1234), 4242, 77);
        assert_eq!(out, notification(1234));
    }

    #[test]
    fn error_response_decodes() {
        let mut out = BytesMut::new();
        error_response(
            &mut out,
            Severity::Fatal,
            "3D000",
            "database \"x\" does not exist",
        );
        let h = complete_frame(&out, 1024).unwrap().unwrap();
        assert_eq!(h.tag, b'E');
        assert_eq!(h.frame_len(), out.len());
        let f = ErrorFields::parse(&out[5..]);
        assert_eq!(f.code, "3D000");
        assert_eq!(f.severity, "FATAL");
        assert_eq!(f.message, "database \"x\" does not exist");
    }

    #[test]
    fn ready_for_query_layout() {
        let mut out = BytesMut::new();
        ready_for_query(&mut out, TxStatus::InTransaction);
        assert_eq!(&out[..], b"Z\0\0\0\x05T");
    }
}
