//! Property tests: encode/decode round trips for every packet type, arbitrary input never
//! panics the codec or the parsers, and chunking a stream never changes what it decodes to.

use bytes::{Bytes, BytesMut};
use gearbox_proto::{
    encode_packet, AdminCommand, Arity, Codec, Frame, Magic, Packet, PacketType, ProtoError,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

fn magic() -> impl Strategy<Value = Magic> {
    prop_oneof![Just(Magic::Req), Just(Magic::Res)]
}

/// A packet type with arguments fitting its layout: terminated fields without NUL, then a
/// final field of any bytes (none at all for types without arguments).
fn packet_args() -> impl Strategy<Value = (Magic, PacketType, Vec<Vec<u8>>)> {
    (magic(), select(PacketType::ALL)).prop_flat_map(|(magic, kind)| {
        let (fields, has_final) = match kind.arity() {
            Arity::None => (0, false),
            Arity::Fields(n) => (n, true),
        };
        let terminated = vec(vec(1u8..=255, 0..12), fields);
        let last =
            vec(any::<u8>(), 0..48).prop_map(move |f| if has_final { vec![f] } else { vec![] });
        (
            Just(magic),
            Just(kind),
            (terminated, last).prop_map(|(mut t, l)| {
                t.extend(l);
                t
            }),
        )
    })
}

fn borrowed(args: &[Vec<u8>]) -> Vec<&[u8]> {
    args.iter().map(Vec::as_slice).collect()
}

/// Decode until `Ok(None)` or an error; every frame must consume bytes.
fn decode_all(codec: &Codec, buf: &mut BytesMut) -> (Vec<Frame>, Option<ProtoError>) {
    let mut frames = Vec::new();
    loop {
        let before = buf.len();
        match codec.decode(buf) {
            Ok(Some(frame)) => {
                assert!(buf.len() < before, "a frame must consume input");
                frames.push(frame);
            }
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

/// Exercise everything a server would call on a decoded frame; none of it may panic.
fn inspect(frame: &Frame) {
    match frame {
        Frame::Packet(packet) => {
            if let Ok(args) = packet.args() {
                for i in 0..args.len() {
                    let _ = packet.share(args.get(i));
                }
            }
        }
        Frame::Admin(line) => {
            if let Err(error) = AdminCommand::parse(line) {
                let reply = error.reply();
                assert!(reply.starts_with(b"ERR ") && reply.ends_with(b"\r\n"));
            }
        }
    }
}

/// One valid frame: its wire bytes and what it decodes to.
fn frame() -> impl Strategy<Value = (Vec<u8>, Frame)> {
    let packet = packet_args().prop_map(|(magic, kind, args)| {
        let packet = Packet::new(magic, kind, &borrowed(&args));
        (packet.to_bytes().to_vec(), Frame::Packet(packet))
    });
    let line =
        (1u8..=255, vec(any::<u8>(), 0..40), any::<bool>()).prop_map(|(first, rest, crlf)| {
            let mut content = vec![first];
            content.extend(rest.into_iter().filter(|&b| b != b'\n'));
            if content[0] == b'\n' {
                content.clear();
            }
            let mut wire = content.clone();
            wire.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            if !crlf && content.last() == Some(&b'\r') {
                content.pop();
            }
            (wire, Frame::Admin(Bytes::from(content)))
        });
    prop_oneof![3 => packet, 1 => line]
}

proptest! {
    #[test]
    fn any_packet_round_trips_through_encode_and_decode((magic, kind, args) in packet_args()) {
        let args = borrowed(&args);
        let packet = Packet::new(magic, kind, &args);
        let wire = packet.to_bytes();

        let mut out = BytesMut::new();
        let (fields, last): (&[&[u8]], &[u8]) = match args.split_last() {
            Some((last, fields)) => (fields, last),
            None => (&[], &[]),
        };
        encode_packet(&mut out, magic, kind, fields, last);
        prop_assert_eq!(&out[..], &wire[..]);

        // Followed by another packet, to check the frame boundary too.
        let mut buf = BytesMut::from(&wire[..]);
        buf.extend_from_slice(&Packet::res(PacketType::Noop, &[]).to_bytes());
        let codec = Codec::default();
        let Ok(Some(Frame::Packet(decoded))) = codec.decode(&mut buf) else {
            return Err(TestCaseError::fail("not decoded as a packet"));
        };
        prop_assert_eq!(decoded.magic, magic);
        prop_assert_eq!(decoded.kind, kind);
        prop_assert_eq!(&decoded, &packet);
        let decoded_args = decoded.args().unwrap();
        prop_assert_eq!(decoded_args.len(), args.len());
        for (i, arg) in args.iter().enumerate() {
            prop_assert_eq!(decoded_args.get(i), *arg);
        }
        prop_assert_eq!(
            codec.decode(&mut buf),
            Ok(Some(Frame::Packet(Packet::res(PacketType::Noop, &[]))))
        );
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in vec(any::<u8>(), 0..512)) {
        for codec in [Codec::default(), Codec { max_body: 16, max_admin_line: 24 }] {
            let mut buf = BytesMut::from(&bytes[..]);
            let (frames, _) = decode_all(&codec, &mut buf);
            frames.iter().for_each(inspect);
        }
    }

    #[test]
    fn arbitrary_headers_and_bodies_never_panic_the_decoder(
        chunks in vec(
            prop_oneof![
                (magic(), 0u32..=45, 0u32..40, vec(any::<u8>(), 0..40)).prop_map(
                    |(magic, kind, size, body)| {
                        let mut out = magic.bytes().to_vec();
                        out.extend_from_slice(&kind.to_be_bytes());
                        out.extend_from_slice(&size.to_be_bytes());
                        out.extend_from_slice(&body);
                        out
                    }
                ),
                vec(any::<u8>(), 0..40),
                vec(prop_oneof![Just(b' '), Just(b'\n'), Just(b'\r'), Just(b'a'), Just(0u8)], 0..20),
            ],
            0..12,
        )
    ) {
        let bytes = chunks.concat();
        for codec in [Codec::default(), Codec { max_body: 16, max_admin_line: 24 }] {
            let mut buf = BytesMut::from(&bytes[..]);
            let (frames, _) = decode_all(&codec, &mut buf);
            frames.iter().for_each(inspect);
        }
    }

    #[test]
    fn splitting_a_valid_stream_anywhere_gives_the_same_frames(
        frames in vec(frame(), 0..8),
        cuts in vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let stream: Vec<u8> = frames.iter().flat_map(|(wire, _)| wire.clone()).collect();
        let expected: Vec<Frame> = frames.into_iter().map(|(_, frame)| frame).collect();
        let codec = Codec::default();

        let mut whole = BytesMut::from(&stream[..]);
        let (decoded, error) = decode_all(&codec, &mut whole);
        prop_assert_eq!(error, None);
        prop_assert_eq!(&decoded, &expected);
        prop_assert!(whole.is_empty());

        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.push(stream.len());
        points.sort_unstable();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut start = 0;
        for end in points {
            buf.extend_from_slice(&stream[start..end]);
            start = end;
            let (frames, error) = decode_all(&codec, &mut buf);
            prop_assert_eq!(error, None);
            decoded.extend(frames);
        }
        prop_assert_eq!(decoded, expected);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn argument_split_of_any_body_is_bounded_and_lossless(
        kind in select(PacketType::ALL),
        body in vec(prop_oneof![Just(0u8), any::<u8>()], 0..64),
    ) {
        let packet = Packet { magic: Magic::Req, kind, body: Bytes::from(body.clone()) };
        match (kind.arity(), packet.args()) {
            (Arity::None, Ok(args)) => prop_assert!(args.is_empty()),
            (Arity::Fields(n), Ok(args)) => {
                prop_assert_eq!(args.len(), n + 1);
                let parts: Vec<&[u8]> = (0..args.len()).map(|i| args.get(i)).collect();
                prop_assert_eq!(parts.join(&0u8), body);
            }
            (Arity::Fields(n), Err(ProtoError::Arity { kind: k, expected, found })) => {
                prop_assert_eq!(k, kind);
                prop_assert_eq!(expected, n + 1);
                prop_assert_eq!(found, body.iter().filter(|&&b| b == 0).count() + 1);
                prop_assert!(found < expected);
            }
            (arity, result) => {
                return Err(TestCaseError::fail(format!("{arity:?} gave {result:?}")));
            }
        }
    }

    #[test]
    fn any_admin_line_parses_or_gives_an_err_reply(line in vec(any::<u8>(), 0..80)) {
        if let Err(error) = AdminCommand::parse(&Bytes::from(line)) {
            let reply = error.reply();
            prop_assert!(reply.starts_with(b"ERR "));
            prop_assert!(reply.ends_with(b"\r\n"));
        }
    }
}
