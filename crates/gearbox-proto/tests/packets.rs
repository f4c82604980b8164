//! Binary packets: golden bytes for every packet type, the worked examples of PROTOCOL.md §12
//! byte for byte, argument layouts (NULs in final fields, field counts) and the encoders.

use bytes::{Bytes, BytesMut};
use gearbox_proto::{
    encode_head, encode_packet, Arity, Codec, Frame, Magic, Packet, PacketType, ProtoError,
    HEADER_LEN,
};

/// Parse the spec's hex notation (`00 52 45 51 …`), ignoring white space.
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {text:?}"
    );
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Decode exactly one packet from `wire`, asserting that nothing is left over.
fn decode_one(wire: &[u8]) -> Packet {
    let mut buf = BytesMut::from(wire);
    let frame = Codec::default()
        .decode(&mut buf)
        .expect("valid packet")
        .expect("complete");
    assert!(buf.is_empty(), "{} bytes left after one packet", buf.len());
    match frame {
        Frame::Packet(packet) => packet,
        Frame::Admin(line) => panic!("decoded as an admin line: {line:?}"),
    }
}

fn args_of(packet: &Packet) -> Vec<Vec<u8>> {
    let args = packet.args().expect("well-formed arguments");
    (0..args.len()).map(|i| args.get(i).to_vec()).collect()
}

/// Encode `args` three ways (Packet::new, encode_packet, encode_head + final field appended
/// separately), compare each with `wire`, then decode `wire` and check magic, kind and args.
fn check_golden(kind: PacketType, magic: Magic, args: &[&[u8]], wire: &[u8]) {
    let name = kind.name();

    let packet = Packet::new(magic, kind, args);
    assert_eq!(&packet.to_bytes()[..], wire, "{name}: Packet::to_bytes");

    let mut out = BytesMut::from(&b"prefix"[..]);
    packet.encode(&mut out);
    assert_eq!(&out[..6], b"prefix", "{name}: encode must append");
    assert_eq!(&out[6..], wire, "{name}: Packet::encode");

    let (fields, last): (&[&[u8]], &[u8]) = match args.split_last() {
        Some((last, fields)) => (fields, last),
        None => (&[], &[]),
    };
    let mut out = BytesMut::new();
    encode_packet(&mut out, magic, kind, fields, last);
    assert_eq!(&out[..], wire, "{name}: encode_packet");

    let mut out = BytesMut::new();
    encode_head(&mut out, magic, kind, fields, last.len());
    assert_eq!(
        out.len(),
        wire.len() - last.len(),
        "{name}: encode_head writes no final field"
    );
    out.extend_from_slice(last);
    assert_eq!(&out[..], wire, "{name}: encode_head + final field");

    let decoded = decode_one(wire);
    assert_eq!(decoded.magic, magic, "{name}: magic");
    assert_eq!(decoded.kind, kind, "{name}: kind");
    assert_eq!(&decoded.body[..], &wire[HEADER_LEN..], "{name}: body");
    assert_eq!(
        decoded, packet,
        "{name}: decoded packet equals the encoded one"
    );
    let expected: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
    assert_eq!(args_of(&decoded), expected, "{name}: args");
    assert_eq!(
        decoded.args().unwrap().len(),
        kind.arity().count(),
        "{name}: arg count"
    );
    assert_eq!(decoded.args().unwrap().last(), last, "{name}: final field");
}

macro_rules! golden {
    ($( $test:ident: $kind:ident, $magic:ident, [$($arg:expr),*] => $wire:expr; )*) => {
        /// Every golden case, in the order written (which is wire-number order).
        const GOLDEN: &[PacketType] = &[$(PacketType::$kind),*];

        $(
            #[test]
            fn $test() {
                check_golden(PacketType::$kind, Magic::$magic, &[$($arg as &[u8]),*], $wire);
            }
        )*
    };
}

// Expected bytes are written by hand: magic, type (u32 BE), size (u32 BE), then the body.
golden! {
    golden_01_can_do: CanDo, Req, [b"upper"]
        => b"\0REQ\0\0\0\x01\0\0\0\x05upper";
    golden_02_cant_do: CantDo, Req, [b"upper"]
        => b"\0REQ\0\0\0\x02\0\0\0\x05upper";
    golden_03_reset_abilities_has_empty_body: ResetAbilities, Req, []
        => b"\0REQ\0\0\0\x03\0\0\0\0";
    golden_04_pre_sleep_has_empty_body: PreSleep, Req, []
        => b"\0REQ\0\0\0\x04\0\0\0\0";
    golden_05_unused_type_still_frames: Unused, Req, []
        => b"\0REQ\0\0\0\x05\0\0\0\0";
    golden_06_noop_has_empty_body: Noop, Res, []
        => b"\0RES\0\0\0\x06\0\0\0\0";
    golden_07_submit_job: SubmitJob, Req, [b"upper", b"u-1", b"hi"]
        => b"\0REQ\0\0\0\x07\0\0\0\x0cupper\0u-1\0hi";
    golden_08_job_created: JobCreated, Res, [b"H:box:7"]
        => b"\0RES\0\0\0\x08\0\0\0\x07H:box:7";
    golden_09_grab_job_has_empty_body: GrabJob, Req, []
        => b"\0REQ\0\0\0\x09\0\0\0\0";
    golden_10_no_job_has_empty_body: NoJob, Res, []
        => b"\0RES\0\0\0\x0a\0\0\0\0";
    golden_11_job_assign: JobAssign, Res, [b"H:box:7", b"upper", b"hi"]
        => b"\0RES\0\0\0\x0b\0\0\0\x10H:box:7\0upper\0hi";
    golden_12_work_status: WorkStatus, Req, [b"H:box:7", b"1", b"2"]
        => b"\0REQ\0\0\0\x0c\0\0\0\x0bH:box:7\x001\x002";
    golden_13_work_complete: WorkComplete, Req, [b"H:box:7", b"HI"]
        => b"\0REQ\0\0\0\x0d\0\0\0\x0aH:box:7\0HI";
    golden_14_work_fail: WorkFail, Req, [b"H:box:7"]
        => b"\0REQ\0\0\0\x0e\0\0\0\x07H:box:7";
    golden_15_get_status: GetStatus, Req, [b"H:box:7"]
        => b"\0REQ\0\0\0\x0f\0\0\0\x07H:box:7";
    golden_16_echo_req_data_keeps_nul: EchoReq, Req, [b"ping\0pong"]
        => b"\0REQ\0\0\0\x10\0\0\0\x09ping\0pong";
    golden_17_echo_res_data_keeps_nul: EchoRes, Res, [b"ping\0pong"]
        => b"\0RES\0\0\0\x11\0\0\0\x09ping\0pong";
    golden_18_submit_job_bg: SubmitJobBg, Req, [b"upper", b"u-2", b"bg"]
        => b"\0REQ\0\0\0\x12\0\0\0\x0cupper\0u-2\0bg";
    golden_19_error: Error, Res, [b"INVALID_MAGIC", b"Request magic expected"]
        => b"\0RES\0\0\0\x13\0\0\0\x24INVALID_MAGIC\0Request magic expected";
    golden_20_status_res_has_five_fields: StatusRes, Res, [b"H:box:7", b"1", b"1", b"3", b"4"]
        => b"\0RES\0\0\0\x14\0\0\0\x0fH:box:7\x001\x001\x003\x004";
    golden_21_submit_job_high_with_empty_unique: SubmitJobHigh, Req, [b"upper", b"", b"hi"]
        => b"\0REQ\0\0\0\x15\0\0\0\x09upper\0\0hi";
    golden_22_set_client_id: SetClientId, Req, [b"worker-1"]
        => b"\0REQ\0\0\0\x16\0\0\0\x08worker-1";
    golden_23_can_do_timeout: CanDoTimeout, Req, [b"upper", b"5000"]
        => b"\0REQ\0\0\0\x17\0\0\0\x0aupper\x005000";
    golden_24_all_yours_has_empty_body: AllYours, Req, []
        => b"\0REQ\0\0\0\x18\0\0\0\0";
    golden_25_work_exception: WorkException, Req, [b"H:box:7", b"boom"]
        => b"\0REQ\0\0\0\x19\0\0\0\x0cH:box:7\0boom";
    golden_26_option_req: OptionReq, Req, [b"exceptions"]
        => b"\0REQ\0\0\0\x1a\0\0\0\x0aexceptions";
    golden_27_option_res: OptionRes, Res, [b"exceptions"]
        => b"\0RES\0\0\0\x1b\0\0\0\x0aexceptions";
    golden_28_work_data_binary_payload_keeps_nuls: WorkData, Req, [b"H:box:7", b"\0\x01\0"]
        => b"\0REQ\0\0\0\x1c\0\0\0\x0bH:box:7\0\0\x01\0";
    golden_29_work_warning: WorkWarning, Req, [b"H:box:7", b"careful"]
        => b"\0REQ\0\0\0\x1d\0\0\0\x0fH:box:7\0careful";
    golden_30_grab_job_uniq_has_empty_body: GrabJobUniq, Req, []
        => b"\0REQ\0\0\0\x1e\0\0\0\0";
    golden_31_job_assign_uniq: JobAssignUniq, Res, [b"H:box:7", b"upper", b"u-1", b"hi"]
        => b"\0RES\0\0\0\x1f\0\0\0\x14H:box:7\0upper\0u-1\0hi";
    golden_32_submit_job_high_bg: SubmitJobHighBg, Req, [b"upper", b"u-3", b"x"]
        => b"\0REQ\0\0\0\x20\0\0\0\x0bupper\0u-3\0x";
    golden_33_submit_job_low: SubmitJobLow, Req, [b"upper", b"u-4", b"lo"]
        => b"\0REQ\0\0\0\x21\0\0\0\x0cupper\0u-4\0lo";
    golden_34_submit_job_low_bg_with_empty_data: SubmitJobLowBg, Req, [b"upper", b"u-5", b""]
        => b"\0REQ\0\0\0\x22\0\0\0\x0aupper\0u-5\0";
    golden_35_submit_job_sched_has_seven_terminated_fields: SubmitJobSched, Req,
        [b"upper", b"u-6", b"30", b"12", b"1", b"6", b"0", b"hi"]
        => b"\0REQ\0\0\0\x23\0\0\0\x18upper\0u-6\x0030\x0012\x001\x006\x000\0hi";
    golden_36_submit_job_epoch: SubmitJobEpoch, Req, [b"upper", b"u-7", b"1700000000", b"hi"]
        => b"\0REQ\0\0\0\x24\0\0\0\x17upper\0u-7\x001700000000\0hi";
    golden_37_submit_reduce_job_has_four_terminated_fields: SubmitReduceJob, Req,
        [b"upper", b"u-8", b"reduce", b"", b"a\0b"]
        => b"\0REQ\0\0\0\x25\0\0\0\x15upper\0u-8\0reduce\0\0a\0b";
    golden_38_submit_reduce_job_background: SubmitReduceJobBackground, Req,
        [b"upper", b"u-9", b"reduce", b"agg", b"hi"]
        => b"\0REQ\0\0\0\x26\0\0\0\x17upper\0u-9\0reduce\0agg\0hi";
    golden_39_grab_job_all_has_empty_body: GrabJobAll, Req, []
        => b"\0REQ\0\0\0\x27\0\0\0\0";
    golden_40_job_assign_all: JobAssignAll, Res, [b"H:box:7", b"upper", b"u-1", b"reduce", b"hi"]
        => b"\0RES\0\0\0\x28\0\0\0\x1bH:box:7\0upper\0u-1\0reduce\0hi";
    golden_41_get_status_unique: GetStatusUnique, Req, [b"u-1"]
        => b"\0REQ\0\0\0\x29\0\0\0\x03u-1";
    golden_42_status_res_unique_has_six_fields_starting_with_unique: StatusResUnique, Res,
        [b"u-1", b"1", b"0", b"1", b"2", b"3"]
        => b"\0RES\0\0\0\x2a\0\0\0\x0du-1\x001\x000\x001\x002\x003";
}

#[test]
fn golden_cases_cover_all_42_packet_types_in_wire_order() {
    assert_eq!(PacketType::ALL.len(), 42);
    assert_eq!(GOLDEN, PacketType::ALL);
}

#[test]
fn packet_numbers_names_and_layouts_match_the_catalogue() {
    // (number, name, terminated fields or None for "no arguments") from PROTOCOL.md §4.
    let catalogue: [(u32, &str, Option<usize>); 42] = [
        (1, "CAN_DO", Some(0)),
        (2, "CANT_DO", Some(0)),
        (3, "RESET_ABILITIES", None),
        (4, "PRE_SLEEP", None),
        (5, "UNUSED", None),
        (6, "NOOP", None),
        (7, "SUBMIT_JOB", Some(2)),
        (8, "JOB_CREATED", Some(0)),
        (9, "GRAB_JOB", None),
        (10, "NO_JOB", None),
        (11, "JOB_ASSIGN", Some(2)),
        (12, "WORK_STATUS", Some(2)),
        (13, "WORK_COMPLETE", Some(1)),
        (14, "WORK_FAIL", Some(0)),
        (15, "GET_STATUS", Some(0)),
        (16, "ECHO_REQ", Some(0)),
        (17, "ECHO_RES", Some(0)),
        (18, "SUBMIT_JOB_BG", Some(2)),
        (19, "ERROR", Some(1)),
        (20, "STATUS_RES", Some(4)),
        (21, "SUBMIT_JOB_HIGH", Some(2)),
        (22, "SET_CLIENT_ID", Some(0)),
        (23, "CAN_DO_TIMEOUT", Some(1)),
        (24, "ALL_YOURS", None),
        (25, "WORK_EXCEPTION", Some(1)),
        (26, "OPTION_REQ", Some(0)),
        (27, "OPTION_RES", Some(0)),
        (28, "WORK_DATA", Some(1)),
        (29, "WORK_WARNING", Some(1)),
        (30, "GRAB_JOB_UNIQ", None),
        (31, "JOB_ASSIGN_UNIQ", Some(3)),
        (32, "SUBMIT_JOB_HIGH_BG", Some(2)),
        (33, "SUBMIT_JOB_LOW", Some(2)),
        (34, "SUBMIT_JOB_LOW_BG", Some(2)),
        (35, "SUBMIT_JOB_SCHED", Some(7)),
        (36, "SUBMIT_JOB_EPOCH", Some(3)),
        (37, "SUBMIT_REDUCE_JOB", Some(4)),
        (38, "SUBMIT_REDUCE_JOB_BACKGROUND", Some(4)),
        (39, "GRAB_JOB_ALL", None),
        (40, "JOB_ASSIGN_ALL", Some(4)),
        (41, "GET_STATUS_UNIQUE", Some(0)),
        (42, "STATUS_RES_UNIQUE", Some(5)),
    ];
    for (&kind, (number, name, fields)) in PacketType::ALL.iter().zip(catalogue) {
        assert_eq!(kind.number(), number, "{name}");
        assert_eq!(kind.name(), name);
        let arity = match fields {
            None => Arity::None,
            Some(n) => Arity::Fields(n),
        };
        assert_eq!(kind.arity(), arity, "{name}");
        assert_eq!(kind.arity().count(), fields.map_or(0, |n| n + 1), "{name}");
        assert_eq!(PacketType::from_u32(number), Some(kind));
        assert_eq!(PacketType::try_from(number), Ok(kind));
    }
}

#[test]
fn type_numbers_outside_1_to_42_are_unknown() {
    for number in [0, 43, 44, 255, 256, 0x0100_0001, u32::MAX] {
        assert_eq!(PacketType::from_u32(number), None);
        assert_eq!(
            PacketType::try_from(number),
            Err(ProtoError::UnknownType(number))
        );
    }
}

#[test]
fn magic_bytes_are_nul_req_and_nul_res() {
    assert_eq!(Magic::Req.bytes(), &[0x00, 0x52, 0x45, 0x51]);
    assert_eq!(Magic::Res.bytes(), &[0x00, 0x52, 0x45, 0x53]);
    assert_eq!(Magic::parse(*b"\0REQ"), Ok(Magic::Req));
    assert_eq!(Magic::parse(*b"\0RES"), Ok(Magic::Res));
    assert_eq!(
        Magic::parse(*b"\0req"),
        Err(ProtoError::BadMagic(*b"\0req"))
    );
    assert_eq!(
        Magic::parse(*b"REQ\0"),
        Err(ProtoError::BadMagic(*b"REQ\0"))
    );
}

#[test]
fn req_and_res_constructors_set_the_magic() {
    assert_eq!(Packet::req(PacketType::EchoReq, &[b"x"]).magic, Magic::Req);
    assert_eq!(Packet::res(PacketType::EchoRes, &[b"x"]).magic, Magic::Res);
    assert_eq!(
        Packet::req(PacketType::SubmitJob, &[b"f", b"u", b"d"]),
        Packet::new(Magic::Req, PacketType::SubmitJob, &[b"f", b"u", b"d"])
    );
}

// ---- PROTOCOL.md §12, byte for byte ------------------------------------------------------------

/// Check that `packet` encodes to the spec's `hex` and that the hex decodes back to it.
fn check_example(hex_bytes: &str, packet: &Packet) {
    check_example_bytes(&hex(hex_bytes), packet);
}

fn check_example_bytes(wire: &[u8], packet: &Packet) {
    assert_eq!(
        packet.to_bytes(),
        Bytes::copy_from_slice(wire),
        "{}",
        packet.kind.name()
    );
    assert_eq!(&decode_one(wire), packet, "{}", packet.kind.name());
}

#[test]
fn worked_example_can_do_upper() {
    check_example(
        "00 52 45 51  00 00 00 01  00 00 00 05  75 70 70 65 72",
        &Packet::req(PacketType::CanDo, &[b"upper"]),
    );
}

#[test]
fn worked_example_grab_job_uniq() {
    check_example(
        "00 52 45 51  00 00 00 1e  00 00 00 00",
        &Packet::req(PacketType::GrabJobUniq, &[]),
    );
}

#[test]
fn worked_example_no_job() {
    check_example(
        "00 52 45 53  00 00 00 0a  00 00 00 00",
        &Packet::res(PacketType::NoJob, &[]),
    );
}

#[test]
fn worked_example_pre_sleep() {
    check_example(
        "00 52 45 51  00 00 00 04  00 00 00 00",
        &Packet::req(PacketType::PreSleep, &[]),
    );
}

#[test]
fn worked_example_submit_job_upper_u1_hi() {
    let wire = "00 52 45 51  00 00 00 07  00 00 00 0c
                75 70 70 65 72 00  75 2d 31 00  68 69";
    let packet = Packet::req(PacketType::SubmitJob, &[b"upper", b"u-1", b"hi"]);
    check_example(wire, &packet);
    let decoded = decode_one(&hex(wire));
    let args = decoded.args().unwrap();
    assert_eq!(
        (args.get(0), args.get(1), args.get(2)),
        (&b"upper"[..], &b"u-1"[..], &b"hi"[..])
    );
}

#[test]
fn worked_example_job_created_handle() {
    check_example(
        "00 52 45 53  00 00 00 08  00 00 00 07  48 3a 62 6f 78 3a 37",
        &Packet::res(PacketType::JobCreated, &[b"H:box:7"]),
    );
}

#[test]
fn worked_example_noop() {
    check_example(
        "00 52 45 53  00 00 00 06  00 00 00 00",
        &Packet::res(PacketType::Noop, &[]),
    );
}

#[test]
fn worked_example_job_assign_uniq() {
    check_example(
        "00 52 45 53  00 00 00 1f  00 00 00 14
         48 3a 62 6f 78 3a 37 00  75 70 70 65 72 00  75 2d 31 00  68 69",
        &Packet::res(
            PacketType::JobAssignUniq,
            &[b"H:box:7", b"upper", b"u-1", b"hi"],
        ),
    );
}

#[test]
fn worked_example_work_status_one_of_two_and_its_relay() {
    let body = "48 3a 62 6f 78 3a 37 00  31 00  32";
    let args: &[&[u8]] = &[b"H:box:7", b"1", b"2"];
    check_example(
        &format!("00 52 45 51  00 00 00 0c  00 00 00 0b {body}"),
        &Packet::req(PacketType::WorkStatus, args),
    );
    check_example(
        &format!("00 52 45 53  00 00 00 0c  00 00 00 0b {body}"),
        &Packet::res(PacketType::WorkStatus, args),
    );
}

#[test]
fn worked_example_work_complete_and_its_relay() {
    let body = "48 3a 62 6f 78 3a 37 00  48 49";
    let args: &[&[u8]] = &[b"H:box:7", b"HI"];
    check_example(
        &format!("00 52 45 51  00 00 00 0d  00 00 00 0a {body}"),
        &Packet::req(PacketType::WorkComplete, args),
    );
    check_example(
        &format!("00 52 45 53  00 00 00 0d  00 00 00 0a {body}"),
        &Packet::res(PacketType::WorkComplete, args),
    );
}

#[test]
fn worked_example_get_status() {
    check_example(
        "00 52 45 51  00 00 00 0f  00 00 00 07  48 3a 62 6f 78 3a 37",
        &Packet::req(PacketType::GetStatus, &[b"H:box:7"]),
    );
}

#[test]
fn worked_example_status_res_unknown_job() {
    check_example(
        "00 52 45 53  00 00 00 14  00 00 00 0f
         48 3a 62 6f 78 3a 37 00  30 00  30 00  30 00  30",
        &Packet::res(PacketType::StatusRes, &[b"H:box:7", b"0", b"0", b"0", b"0"]),
    );
}

#[test]
fn worked_example_echo_req_with_response_magic_still_decodes() {
    // The codec reports the magic as received; answering INVALID_MAGIC is the server's job.
    let packet = decode_one(&hex("00 52 45 53  00 00 00 10  00 00 00 02  6f 6b"));
    assert_eq!(packet.magic, Magic::Res);
    assert_eq!(packet.kind, PacketType::EchoReq);
    assert_eq!(packet.args().unwrap().get(0), b"ok");
}

#[test]
fn worked_example_error_invalid_magic() {
    let mut wire = hex("00 52 45 53  00 00 00 13  00 00 00 24");
    wire.extend_from_slice(b"INVALID_MAGIC\0Request magic expected");
    check_example_bytes(
        &wire,
        &Packet::res(
            PacketType::Error,
            &[b"INVALID_MAGIC", b"Request magic expected"],
        ),
    );
    assert_eq!(wire.len(), HEADER_LEN + 36);
}

#[test]
fn worked_example_worker_stream_decodes_packet_by_packet() {
    let stream = hex("00 52 45 51  00 00 00 01  00 00 00 05  75 70 70 65 72
         00 52 45 51  00 00 00 1e  00 00 00 00
         00 52 45 51  00 00 00 04  00 00 00 00
         00 52 45 51  00 00 00 1e  00 00 00 00
         00 52 45 51  00 00 00 0c  00 00 00 0b  48 3a 62 6f 78 3a 37 00  31 00  32
         00 52 45 51  00 00 00 0d  00 00 00 0a  48 3a 62 6f 78 3a 37 00  48 49");
    let mut buf = BytesMut::from(&stream[..]);
    let codec = Codec::default();
    let mut kinds = Vec::new();
    while let Some(frame) = codec.decode(&mut buf).unwrap() {
        let Frame::Packet(packet) = frame else {
            panic!("unexpected admin line")
        };
        kinds.push(packet.kind);
    }
    assert!(buf.is_empty());
    use PacketType::*;
    assert_eq!(
        kinds,
        [
            CanDo,
            GrabJobUniq,
            PreSleep,
            GrabJobUniq,
            WorkStatus,
            WorkComplete
        ]
    );
}

// ---- argument layouts --------------------------------------------------------------------------

#[test]
fn data_field_keeps_embedded_and_trailing_nuls() {
    let data: &[u8] = b"\0a\0\0b\0";
    for kind in [
        PacketType::SubmitJob,
        PacketType::JobAssign,
        PacketType::JobAssignUniq,
    ] {
        let mut args: Vec<&[u8]> = vec![b"f"; kind.arity().count() - 1];
        args.push(data);
        let packet = decode_one(&Packet::req(kind, &args).to_bytes());
        assert_eq!(packet.args().unwrap().last(), data, "{}", kind.name());
    }
    let packet = decode_one(&Packet::req(PacketType::WorkComplete, &[b"H:1", data]).to_bytes());
    let args = packet.args().unwrap();
    assert_eq!((args.get(0), args.get(1)), (&b"H:1"[..], data));
}

#[test]
fn trailing_nul_on_an_identifier_final_field_is_kept_by_the_codec() {
    // `CAN_DO "upper\0"`: gearmand keeps the NUL; stripping it is server policy (§3.2).
    let packet = decode_one(b"\0REQ\0\0\0\x01\0\0\0\x06upper\0");
    assert_eq!(packet.args().unwrap().get(0), b"upper\0");
}

#[test]
fn submit_reduce_job_splits_on_exactly_four_nuls() {
    let packet = decode_one(b"\0REQ\0\0\0\x25\0\0\0\x12fn\0un\0red\0agg\0d\0\0a");
    assert_eq!(
        args_of(&packet),
        [&b"fn"[..], b"un", b"red", b"agg", b"d\0\0a"]
    );
}

#[test]
fn submit_job_sched_splits_on_exactly_seven_nuls() {
    let packet = decode_one(b"\0REQ\0\0\0\x23\0\0\0\x11f\0u\x001\x002\x003\x004\x005\0d\0x");
    assert_eq!(
        args_of(&packet),
        [&b"f"[..], b"u", b"1", b"2", b"3", b"4", b"5", b"d\0x"]
    );
}

#[test]
fn status_res_unique_splits_on_exactly_five_nuls() {
    let packet = decode_one(b"\0RES\0\0\0\x2a\0\0\0\x0cu\x001\x001\x003\x004\x0012");
    assert_eq!(args_of(&packet), [&b"u"[..], b"1", b"1", b"3", b"4", b"12"]);
}

#[test]
fn args_get_out_of_range_is_empty() {
    let packet = Packet::req(PacketType::SubmitJob, &[b"f", b"u", b"d"]);
    let args = packet.args().unwrap();
    assert_eq!(args.len(), 3);
    assert!(!args.is_empty());
    assert_eq!(args.get(3), b"");
    assert_eq!(args.get(usize::MAX), b"");
}

#[test]
fn share_returns_zero_copy_slices_of_the_body() {
    let packet = decode_one(b"\0REQ\0\0\0\x07\0\0\0\x0cupper\0u-1\0hi");
    let args = packet.args().unwrap();
    let function = packet.share(args.get(0));
    let data = packet.share(args.get(2));
    assert_eq!(function, &b"upper"[..]);
    assert_eq!(data, &b"hi"[..]);
    assert_eq!(
        function.as_ptr(),
        packet.body.as_ptr(),
        "shares the body's memory"
    );
    assert_eq!(data.as_ptr(), packet.body[10..].as_ptr());
    assert!(packet.share(b"").is_empty());
}

#[test]
fn empty_arguments_encode_as_bare_nuls() {
    let packet = Packet::req(PacketType::SubmitJob, &[b"", b"", b""]);
    assert_eq!(&packet.to_bytes()[..], b"\0REQ\0\0\0\x07\0\0\0\x02\0\0");
    assert_eq!(
        args_of(&decode_one(&packet.to_bytes())),
        [&b""[..], b"", b""]
    );
}
