//! Framing: partial input, byte-at-a-time input, interleaved admin lines, and every error the
//! codec can report, with its limits.

use bytes::{Bytes, BytesMut};
use gearbox_proto::{
    Codec, Frame, Packet, PacketType, ProtoError, DEFAULT_MAX_ADMIN_LINE, DEFAULT_MAX_BODY,
    HEADER_LEN,
};

/// Decode frames until `Ok(None)`, panicking on an error.
fn drain(codec: &Codec, buf: &mut BytesMut) -> Vec<Frame> {
    let mut frames = Vec::new();
    loop {
        match codec.decode(buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return frames,
            Err(e) => panic!("unexpected error {e:?} with {} bytes buffered", buf.len()),
        }
    }
}

fn admin(line: &str) -> Frame {
    Frame::Admin(Bytes::copy_from_slice(line.as_bytes()))
}

fn packet(p: Packet) -> Frame {
    Frame::Packet(p)
}

/// Several packets and admin lines on one connection, with where each frame ends in the stream.
fn mixed_stream() -> (Vec<u8>, Vec<Frame>, Vec<usize>) {
    let pieces: Vec<(Vec<u8>, Frame)> = vec![
        {
            let p = Packet::req(PacketType::CanDo, &[b"upper"]);
            (p.to_bytes().to_vec(), packet(p))
        },
        (b"status\r\n".to_vec(), admin("status")),
        {
            let p = Packet::req(PacketType::SubmitJob, &[b"upper", b"u-1", b"h\0i\0"]);
            (p.to_bytes().to_vec(), packet(p))
        },
        (b"workers\n".to_vec(), admin("workers")),
        {
            let p = Packet::res(PacketType::Noop, &[]);
            (p.to_bytes().to_vec(), packet(p))
        },
        {
            let p = Packet::res(
                PacketType::JobAssignUniq,
                &[b"H:box:7", b"upper", b"u-1", b"\0\0"],
            );
            (p.to_bytes().to_vec(), packet(p))
        },
        (b"\n".to_vec(), admin("")),
        (b"\r\n".to_vec(), admin("")),
        (b"maxqueue f 3\r\n".to_vec(), admin("maxqueue f 3")),
        {
            let p = Packet::req(PacketType::SubmitReduceJob, &[b"f", b"u", b"r", b"", b"d"]);
            (p.to_bytes().to_vec(), packet(p))
        },
        (b"status\r\r\n".to_vec(), admin("status\r")),
        {
            let p = Packet::req(PacketType::WorkComplete, &[b"H:box:7", b"HI"]);
            (p.to_bytes().to_vec(), packet(p))
        },
        {
            // A no-argument type with a body: the body is consumed with the packet.
            let p = Packet::new(gearbox_proto::Magic::Req, PacketType::GrabJob, &[b"junk"]);
            (p.to_bytes().to_vec(), packet(p))
        },
        (b"version\n".to_vec(), admin("version")),
    ];
    let mut stream = Vec::new();
    let mut frames = Vec::new();
    let mut ends = Vec::new();
    for (bytes, frame) in pieces {
        stream.extend_from_slice(&bytes);
        frames.push(frame);
        ends.push(stream.len());
    }
    (stream, frames, ends)
}

#[test]
fn whole_mixed_stream_decodes_to_the_expected_frames() {
    let (stream, expected, _) = mixed_stream();
    let mut buf = BytesMut::from(&stream[..]);
    assert_eq!(drain(&Codec::default(), &mut buf), expected);
    assert!(buf.is_empty());
}

#[test]
fn every_prefix_yields_exactly_the_complete_frames_then_none() {
    let (stream, expected, ends) = mixed_stream();
    let codec = Codec::default();
    for cut in 0..=stream.len() {
        let mut buf = BytesMut::from(&stream[..cut]);
        let frames = drain(&codec, &mut buf);
        let complete = ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(frames, expected[..complete], "prefix of {cut} bytes");
        let consumed = if complete == 0 { 0 } else { ends[complete - 1] };
        assert_eq!(
            &buf[..],
            &stream[consumed..cut],
            "prefix of {cut}: incomplete part kept"
        );
        // Deliver the rest: the frames continue exactly where they stopped.
        buf.extend_from_slice(&stream[cut..]);
        let rest = drain(&codec, &mut buf);
        assert_eq!(
            rest,
            expected[complete..],
            "after completing the prefix of {cut} bytes"
        );
        assert!(buf.is_empty());
    }
}

#[test]
fn feeding_one_byte_at_a_time_gives_the_same_frames_as_all_at_once() {
    let (stream, expected, ends) = mixed_stream();
    let codec = Codec::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for (i, &byte) in stream.iter().enumerate() {
        buf.extend_from_slice(&[byte]);
        let new = drain(&codec, &mut buf);
        // A frame appears exactly when its last byte arrives, never earlier or later.
        let at_end = ends.contains(&(i + 1));
        assert_eq!(new.len(), usize::from(at_end), "after byte {i}");
        frames.extend(new);
    }
    assert_eq!(frames, expected);
    assert!(buf.is_empty());
}

#[test]
fn empty_buffer_is_none() {
    assert_eq!(Codec::default().decode(&mut BytesMut::new()), Ok(None));
}

#[test]
fn admin_line_strips_lf_and_exactly_one_cr() {
    let codec = Codec::default();
    for (wire, line) in [
        (&b"status\n"[..], &b"status"[..]),
        (b"status\r\n", b"status"),
        (b"status\r\r\n", b"status\r"),
        (b"sta\rtus\n", b"sta\rtus"),
        (b"\r\n", b""),
        (b"\n", b""),
        (b"\r\r\n", b"\r"),
    ] {
        let mut buf = BytesMut::from(wire);
        assert_eq!(
            codec.decode(&mut buf),
            Ok(Some(Frame::Admin(Bytes::from_static(line)))),
            "{wire:?}"
        );
        assert!(buf.is_empty());
    }
}

#[test]
fn admin_line_without_newline_waits() {
    let mut buf = BytesMut::from(&b"status\r"[..]);
    assert_eq!(Codec::default().decode(&mut buf), Ok(None));
    assert_eq!(&buf[..], b"status\r", "nothing consumed");
}

#[test]
fn admin_line_is_followed_by_a_binary_packet() {
    let mut buf = BytesMut::from(&b"status\n\0REQ\0\0\0\x09\0\0\0\0"[..]);
    let codec = Codec::default();
    assert_eq!(codec.decode(&mut buf), Ok(Some(admin("status"))));
    assert_eq!(
        codec.decode(&mut buf),
        Ok(Some(Frame::Packet(Packet::req(PacketType::GrabJob, &[]))))
    );
    assert_eq!(codec.decode(&mut buf), Ok(None));
}

// ---- errors ------------------------------------------------------------------------------------

fn header(magic: &[u8; 4], kind: u32, size: u32) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(magic);
    buf.extend_from_slice(&kind.to_be_bytes());
    buf.extend_from_slice(&size.to_be_bytes());
    buf
}

#[test]
fn bad_magic_is_an_error() {
    for magic in [b"\0REX", b"\0req", b"\0RE\0", b"\0\0\0\0", b"\0RQE"] {
        let mut buf = header(magic, 1, 0);
        assert_eq!(
            Codec::default().decode(&mut buf),
            Err(ProtoError::BadMagic(*magic))
        );
    }
}

#[test]
fn unknown_packet_types_are_errors() {
    for kind in [0, 43, 44, 1000, u32::MAX] {
        let mut buf = header(b"\0REQ", kind, 0);
        assert_eq!(
            Codec::default().decode(&mut buf),
            Err(ProtoError::UnknownType(kind))
        );
    }
}

#[test]
fn body_over_max_body_is_rejected_without_reserving_it() {
    let codec = Codec {
        max_body: 1024,
        ..Codec::default()
    };
    let mut buf = header(b"\0REQ", 16, 1025);
    let capacity = buf.capacity();
    assert_eq!(
        codec.decode(&mut buf),
        Err(ProtoError::BodyTooLarge {
            size: 1025,
            max: 1024
        })
    );
    assert_eq!(buf.capacity(), capacity);

    let mut buf = header(b"\0REQ", 16, u32::MAX);
    let capacity = buf.capacity();
    assert_eq!(
        Codec::default().decode(&mut buf),
        Err(ProtoError::BodyTooLarge {
            size: u32::MAX,
            max: DEFAULT_MAX_BODY
        })
    );
    assert_eq!(buf.capacity(), capacity);
}

#[test]
fn body_of_exactly_max_body_is_accepted() {
    let codec = Codec {
        max_body: 4,
        ..Codec::default()
    };
    let mut buf = header(b"\0REQ", 16, 4);
    buf.extend_from_slice(b"ab\0c");
    let Ok(Some(Frame::Packet(p))) = codec.decode(&mut buf) else {
        panic!("not decoded")
    };
    assert_eq!(&p.body[..], b"ab\0c");
}

#[test]
fn incomplete_body_under_the_limit_reserves_nothing() {
    // A 12-byte header must not make the codec allocate the size it declares.
    let mut buf = header(b"\0REQ", 16, DEFAULT_MAX_BODY);
    buf.extend_from_slice(b"abc");
    let capacity = buf.capacity();
    assert_eq!(Codec::default().decode(&mut buf), Ok(None));
    assert_eq!(buf.capacity(), capacity);
    assert_eq!(buf.len(), HEADER_LEN + 3, "nothing consumed");
}

#[test]
fn partial_header_is_none_even_when_magic_is_already_wrong() {
    // The header is validated once all 12 bytes are there; before that, only "need more".
    let mut buf = BytesMut::from(&b"\0XYZ\0\0\0"[..]);
    assert_eq!(Codec::default().decode(&mut buf), Ok(None));
}

#[test]
fn too_few_nul_fields_is_an_arity_error() {
    let cases: [(PacketType, &[u8], usize, usize); 6] = [
        (PacketType::SubmitJob, b"upper", 3, 1),
        (PacketType::SubmitJob, b"upper\0u-1", 3, 2),
        (PacketType::WorkComplete, b"H:box:7", 2, 1),
        (PacketType::StatusRes, b"H\x001\x001\x003", 5, 4),
        // libgearman's old three-field reduce layout.
        (PacketType::SubmitReduceJob, b"f\0u\0r\0data", 5, 4),
        (
            PacketType::SubmitJobSched,
            b"f\0u\x001\x002\x003\x004\0data",
            8,
            7,
        ),
    ];
    for (kind, body, expected, found) in cases {
        let mut buf = header(b"\0REQ", kind.number(), body.len() as u32);
        buf.extend_from_slice(body);
        let Ok(Some(Frame::Packet(p))) = Codec::default().decode(&mut buf) else {
            panic!("{}: framing must succeed", kind.name())
        };
        assert_eq!(
            p.args().unwrap_err(),
            ProtoError::Arity {
                kind,
                expected,
                found
            }
        );
    }
}

#[test]
fn status_res_unique_with_four_nuls_is_an_arity_error() {
    let p = Packet::res(PacketType::StatusResUnique, &[b"u", b"1", b"1", b"3", b"4"]);
    assert_eq!(
        p.args().unwrap_err(),
        ProtoError::Arity {
            kind: PacketType::StatusResUnique,
            expected: 6,
            found: 5
        }
    );
}

#[test]
fn argument_split_never_reads_into_the_next_packet() {
    // SUBMIT_JOB whose body has no NUL, followed by a packet full of NULs (gearmand's
    // desynchronisation bug, PROTOCOL.md §3.3).
    let mut buf = header(b"\0REQ", 7, 5);
    buf.extend_from_slice(b"upper");
    let next = Packet::req(PacketType::SubmitJob, &[b"f", b"u", b"d"]);
    buf.extend_from_slice(&next.to_bytes());
    let codec = Codec::default();
    let Ok(Some(Frame::Packet(first))) = codec.decode(&mut buf) else {
        panic!("first")
    };
    assert_eq!(&first.body[..], b"upper");
    assert_eq!(
        first.args().unwrap_err(),
        ProtoError::Arity {
            kind: PacketType::SubmitJob,
            expected: 3,
            found: 1
        }
    );
    assert_eq!(codec.decode(&mut buf), Ok(Some(Frame::Packet(next))));
    assert!(buf.is_empty());
}

#[test]
fn no_argument_type_with_a_body_decodes_with_empty_args() {
    for kind in PacketType::ALL.iter().filter(|k| k.arity().count() == 0) {
        let mut buf = header(b"\0REQ", kind.number(), 5);
        buf.extend_from_slice(b"a\0b\0c");
        buf.extend_from_slice(&Packet::res(PacketType::Noop, &[]).to_bytes());
        let codec = Codec::default();
        let Ok(Some(Frame::Packet(p))) = codec.decode(&mut buf) else {
            panic!("{kind:?}")
        };
        assert_eq!(p.kind, *kind);
        assert_eq!(&p.body[..], b"a\0b\0c", "body consumed with the packet");
        let args = p.args().unwrap();
        assert!(args.is_empty());
        assert_eq!(args.len(), 0);
        assert_eq!(args.last(), b"");
        let Ok(Some(Frame::Packet(next))) = codec.decode(&mut buf) else {
            panic!("next")
        };
        assert_eq!(next.kind, PacketType::Noop, "stream still in step");
    }
}

#[test]
fn admin_line_of_exactly_max_admin_line_is_accepted() {
    let codec = Codec {
        max_admin_line: 16,
        ..Codec::default()
    };
    let line = "a".repeat(16);
    for ending in ["\n", "\r\n"] {
        let mut buf = BytesMut::from(format!("{line}{ending}").as_bytes());
        assert_eq!(codec.decode(&mut buf), Ok(Some(admin(&line))), "{ending:?}");
    }
}

#[test]
fn admin_line_over_max_admin_line_is_an_error() {
    let codec = Codec {
        max_admin_line: 16,
        ..Codec::default()
    };
    let too_long = ProtoError::AdminLineTooLong { max: 16 };
    let line = "a".repeat(17);
    for ending in ["\n", "\r\n"] {
        let mut buf = BytesMut::from(format!("{line}{ending}").as_bytes());
        assert_eq!(codec.decode(&mut buf), Err(too_long.clone()), "{ending:?}");
    }
    // No newline yet: 17 bytes could still be 16 + '\r'; 18 cannot be a valid line any more.
    assert_eq!(
        codec.decode(&mut BytesMut::from(&b"aaaaaaaaaaaaaaaaa"[..])),
        Ok(None)
    );
    assert_eq!(
        codec.decode(&mut BytesMut::from(&b"aaaaaaaaaaaaaaaa\r"[..])),
        Ok(None)
    );
    assert_eq!(
        codec.decode(&mut BytesMut::from(&b"aaaaaaaaaaaaaaaaaa"[..])),
        Err(too_long)
    );
}

#[test]
fn default_admin_line_limit_is_8192() {
    assert_eq!(DEFAULT_MAX_ADMIN_LINE, 8192);
    let codec = Codec::default();
    let ok = format!("{}\r\n", "x".repeat(8192));
    let Ok(Some(Frame::Admin(line))) = codec.decode(&mut BytesMut::from(ok.as_bytes())) else {
        panic!("8192-byte line rejected")
    };
    assert_eq!(line.len(), 8192);
    let long = vec![b'x'; 100_000];
    assert_eq!(
        codec.decode(&mut BytesMut::from(&long[..])),
        Err(ProtoError::AdminLineTooLong { max: 8192 })
    );
}

#[test]
fn extreme_limits_do_not_overflow() {
    let codec = Codec {
        max_body: u32::MAX,
        max_admin_line: usize::MAX,
    };
    assert_eq!(
        codec.decode(&mut BytesMut::from(&b"no newline yet"[..])),
        Ok(None)
    );
    assert_eq!(codec.decode(&mut header(b"\0REQ", 16, u32::MAX)), Ok(None));
}

#[test]
fn default_limits() {
    let codec = Codec::default();
    assert_eq!(codec.max_body, DEFAULT_MAX_BODY);
    assert_eq!(DEFAULT_MAX_BODY, 64 * 1024 * 1024);
    assert_eq!(codec.max_admin_line, DEFAULT_MAX_ADMIN_LINE);
}

#[test]
fn errors_render_one_readable_line() {
    let cases = [
        (
            ProtoError::BadMagic(*b"\0REX"),
            "bad magic [00, 52, 45, 58]",
        ),
        (ProtoError::UnknownType(43), "unknown packet type 43"),
        (
            ProtoError::BodyTooLarge { size: 10, max: 4 },
            "packet body of 10 bytes exceeds the limit of 4 bytes",
        ),
        (
            ProtoError::Arity {
                kind: PacketType::SubmitJob,
                expected: 3,
                found: 1,
            },
            "SubmitJob needs 3 arguments, found 1",
        ),
        (
            ProtoError::AdminLineTooLong { max: 8192 },
            "admin command line longer than 8192 bytes",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}
