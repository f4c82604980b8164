//! The wire codec on arbitrary bytes, delivered in two reads split where the input says:
//! decoding never panics, never hands out a frame longer than the limits, and every packet it
//! decodes encodes back to the bytes it came from; every admin line parses or is refused
//! without a panic.
#![no_main]

use bytes::BytesMut;
use gearbox_proto::{AdminCommand, Codec, Frame, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

const MAX_BODY: u32 = 1 << 16;
const MAX_LINE: usize = 512;

fuzz_target!(|data: &[u8]| {
    let codec = Codec {
        max_body: MAX_BODY,
        max_admin_line: MAX_LINE,
    };
    let split = match data.first() {
        Some(&b) if !data.is_empty() => usize::from(b) % data.len(),
        _ => 0,
    };
    let mut buf = BytesMut::new();
    let mut consumed = 0usize;
    for chunk in [&data[..split], &data[split..]] {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            match codec.decode(&mut buf) {
                Ok(Some(Frame::Packet(packet))) => {
                    assert!(packet.body.len() <= MAX_BODY as usize);
                    let mut again = BytesMut::new();
                    packet.encode(&mut again);
                    let taken = before - buf.len();
                    assert_eq!(again.len(), HEADER_LEN + packet.body.len());
                    assert_eq!(taken, again.len());
                    assert_eq!(&again[..], &data[consumed..consumed + taken]);
                    consumed += taken;
                    let _ = packet.args();
                }
                Ok(Some(Frame::Admin(line))) => {
                    assert!(line.len() <= MAX_LINE);
                    consumed += before - buf.len();
                    if let Err(e) = AdminCommand::parse(&line) {
                        let _ = e.reply();
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
