//! Utility packets: ECHO, OPTION_REQ, and packets a client may not send (response magic,
//! reply-only and reserved types).

use gearbox_proto::PacketType as T;
use gearbox_testkit::differential::differential;
use gearbox_testkit::wire::{raw_packet, req};

#[test]
fn echo_payloads() {
    differential(|s| {
        let mut c = s.conn();
        s.req("c", &mut c, T::EchoReq, &[b""]);
        s.req("c", &mut c, T::EchoReq, &[b"hello"]);
        s.req("c", &mut c, T::EchoReq, &[b"a\0b\0\0"]);
        s.req("c", &mut c, T::EchoReq, &[b"\0"]);
        let all: Vec<u8> = (0..=255u8).collect();
        s.req("c", &mut c, T::EchoReq, &[&all]);
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let r = s.req("c", &mut c, T::EchoReq, &[&big]);
        assert_eq!(r[0].packet().body.as_ref(), &big[..]);
    });
}

#[test]
fn echo_1000_pipelined_in_one_write() {
    differential(|s| {
        let mut c = s.conn();
        let mut bytes = Vec::new();
        for i in 0..1000 {
            bytes.extend(req(T::EchoReq, &[format!("echo\0{i}").as_bytes()]));
        }
        c.send(&bytes);
        let replies = c.recv_n(1000);
        for (i, r) in replies.iter().enumerate() {
            assert!(r.is(T::EchoRes), "reply {i}: {}", r.describe());
            assert_eq!(r.packet().body.as_ref(), format!("echo\0{i}").as_bytes());
        }
        s.log.push("1000 ECHO_RES, in order".to_owned());
        s.pending("c", &mut c);
    });
}

#[test]
fn option_req_exceptions_and_unknown_option() {
    differential(|s| {
        let mut c = s.conn();
        s.req("c", &mut c, T::OptionReq, &[b"exceptions"]);
        s.req("c", &mut c, T::OptionReq, &[b"EXCEPTIONS"]);
        s.req("c", &mut c, T::OptionReq, &[b"ExCePtIoNs"]);
        s.req("c", &mut c, T::OptionReq, &[b"exceptions\0"]);
        s.req("c", &mut c, T::OptionReq, &[b"foo"]);
        s.req("c", &mut c, T::OptionReq, &[b""]);
        s.req("c", &mut c, T::OptionReq, &[b"exception"]);
    });
}

#[test]
fn response_magic_gets_invalid_magic() {
    differential(|s| {
        let mut c = s.conn();
        s.send("c", &mut c, &raw_packet(b"\0RES", 16, b"ok"));
        // A submission with response magic creates no job.
        s.send("c", &mut c, &raw_packet(b"\0RES", 7, b"f\0u\0data"));
        s.send("c", &mut c, &raw_packet(b"\0RES", 9, b""));
        s.admin("c", &mut c, "status");
        s.req("c", &mut c, T::EchoReq, &[b"still here"]);
    });
}

#[test]
fn reply_only_and_reserved_types_get_invalid_command() {
    differential(|s| {
        let mut c = s.conn();
        let cases: &[(T, &[&[u8]])] = &[
            (T::Unused, &[]),
            (T::Noop, &[]),
            (T::JobCreated, &[b"H:x:1"]),
            (T::NoJob, &[]),
            (T::JobAssign, &[b"H:x:1", b"f", b"d"]),
            (T::EchoRes, &[b"e"]),
            (T::Error, &[b"CODE", b"text"]),
            (T::StatusRes, &[b"H:x:1", b"1", b"0", b"0", b"0"]),
            (T::AllYours, &[]),
            (T::OptionRes, &[b"exceptions"]),
            (T::JobAssignUniq, &[b"H:x:1", b"f", b"u", b"d"]),
            (T::JobAssignAll, &[b"H:x:1", b"f", b"u", b"r", b"d"]),
            (T::StatusResUnique, &[b"u", b"1", b"0", b"0", b"0", b"0"]),
        ];
        for (kind, args) in cases {
            s.req("c", &mut c, *kind, args);
        }
        // All in one write as well.
        let mut all = Vec::new();
        for (kind, args) in cases {
            all.extend(req(*kind, args));
        }
        s.send("c", &mut c, &all);
        // Nothing was created.
        s.admin("c", &mut c, "status");
    });
}
