//! The admin grammar, against request → reply pairs measured on gearmand 1.1.20.
//!
//! Error cases compare the exact reply line from [`AdminError::reply`]; accepted lines compare
//! the parsed [`AdminCommand`].

use bytes::{Bytes, BytesMut};
use gearbox_proto::{
    AdminCommand, AdminError, AdminReply, AdminReplyReader, Codec, Frame, ReplyShape,
    MAX_ADMIN_TOKENS,
};

fn parse(line: &str) -> Result<AdminCommand, AdminError> {
    AdminCommand::parse(&Bytes::copy_from_slice(line.as_bytes()))
}

#[track_caller]
fn ok(line: &str) -> AdminCommand {
    parse(line).unwrap_or_else(|e| panic!("{line:?} rejected: {e:?}"))
}

/// The reply gearmand sends for a rejected line, as text.
#[track_caller]
fn reply(line: &str) -> String {
    match parse(line) {
        Ok(command) => panic!("{line:?} accepted as {command:?}"),
        Err(error) => String::from_utf8(error.reply()).unwrap(),
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn maxqueue(function: &str, limits: [u32; 3]) -> AdminCommand {
    AdminCommand::MaxQueue {
        function: b(function),
        limits,
    }
}

const UNKNOWN: &str = "ERR UNKNOWN_COMMAND Unknown+server+command";

fn invalid_arguments(command: &str) -> String {
    format!("ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+{command}\r\n")
}

#[test]
fn status_is_case_insensitive_and_ignores_extra_arguments() {
    assert_eq!(ok("status"), AdminCommand::Status);
    assert_eq!(ok("STATUS"), AdminCommand::Status);
    assert_eq!(ok("Status"), AdminCommand::Status);
    assert_eq!(ok("status extra"), AdminCommand::Status);
}

#[test]
fn leading_space_makes_an_empty_unknown_command_word() {
    assert_eq!(reply(" status"), format!("{UNKNOWN}\r\n"));
    assert_eq!(
        parse(" status"),
        Err(AdminError::UnknownCommand(Bytes::new()))
    );
}

#[test]
fn tab_is_not_a_separator_and_is_echoed_in_the_unknown_command() {
    assert_eq!(reply("status\tx"), format!("{UNKNOWN}status\tx\r\n"));
}

#[test]
fn empty_line_is_an_unknown_empty_command() {
    assert_eq!(reply(""), format!("{UNKNOWN}\r\n"));
}

#[test]
fn unknown_command_echoes_the_word_without_separator() {
    assert_eq!(
        reply("bogus"),
        "ERR UNKNOWN_COMMAND Unknown+server+commandbogus\r\n"
    );
    assert_eq!(reply("bogus a b"), format!("{UNKNOWN}bogus\r\n"));
    // Commands of other implementations (PROTOCOL.md §9.3).
    for word in ["jobs", "clients", "gladiator"] {
        assert_eq!(reply(word), format!("{UNKNOWN}{word}\r\n"));
    }
}

#[test]
fn other_simple_commands_parse_and_ignore_extra_arguments() {
    assert_eq!(ok("workers"), AdminCommand::Workers);
    assert_eq!(ok("prioritystatus"), AdminCommand::PriorityStatus);
    assert_eq!(ok("PriorityStatus"), AdminCommand::PriorityStatus);
    assert_eq!(ok("version"), AdminCommand::Version);
    assert_eq!(ok("version x y"), AdminCommand::Version);
    assert_eq!(ok("getpid"), AdminCommand::Getpid);
    assert_eq!(ok("getpid x"), AdminCommand::Getpid);
    assert_eq!(ok("verbose"), AdminCommand::Verbose);
    assert_eq!(ok("verbose x"), AdminCommand::Verbose);
}

#[test]
fn maxqueue_without_function_is_invalid_arguments() {
    assert_eq!(
        reply("maxqueue"),
        "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n"
    );
}

#[test]
fn maxqueue_with_function_only_resets_to_unlimited() {
    assert_eq!(ok("maxqueue f"), maxqueue("f", [0, 0, 0]));
}

#[test]
fn maxqueue_with_one_number_applies_it_to_every_priority() {
    assert_eq!(ok("maxqueue f 3"), maxqueue("f", [3, 3, 3]));
    assert_eq!(ok("MAXQUEUE f 100"), maxqueue("f", [100, 100, 100]));
}

#[test]
fn maxqueue_with_two_numbers_leaves_low_unlimited() {
    assert_eq!(ok("maxqueue f 1 2"), maxqueue("f", [1, 2, 0]));
}

#[test]
fn maxqueue_with_three_numbers_sets_each_priority() {
    assert_eq!(ok("maxqueue f 1 2 3"), maxqueue("f", [1, 2, 3]));
}

#[test]
fn maxqueue_tokens_are_separated_by_runs_of_spaces() {
    assert_eq!(ok("maxqueue  f  3"), maxqueue("f", [3, 3, 3]));
}

#[test]
fn maxqueue_function_name_keeps_its_case() {
    assert_eq!(ok("maxqueue Upper 1"), maxqueue("Upper", [1, 1, 1]));
}

#[test]
fn maxqueue_non_numeric_or_negative_means_unlimited() {
    assert_eq!(ok("maxqueue f abc"), maxqueue("f", [0, 0, 0]));
    assert_eq!(ok("maxqueue f -5"), maxqueue("f", [0, 0, 0]));
    assert_eq!(ok("maxqueue f 0"), maxqueue("f", [0, 0, 0]));
    assert_eq!(ok("maxqueue f -5 7 x"), maxqueue("f", [0, 7, 0]));
}

#[test]
fn maxqueue_numbers_are_read_like_c_atoi() {
    assert_eq!(ok("maxqueue f 12abc"), maxqueue("f", [12, 12, 12]));
    assert_eq!(ok("maxqueue f +4"), maxqueue("f", [4, 4, 4]));
    assert_eq!(
        ok("maxqueue f \t7"),
        maxqueue("f", [7, 7, 7]),
        "atoi skips leading white space"
    );
    assert_eq!(ok("maxqueue f 5\r"), maxqueue("f", [5, 5, 5]));
    assert_eq!(
        ok("maxqueue f 2147483647"),
        maxqueue("f", [i32::MAX as u32; 3])
    );
}

#[test]
fn bare_show_is_an_unknown_command() {
    assert_eq!(
        reply("show"),
        "ERR UNKNOWN_COMMAND Unknown+server+commandshow\r\n"
    );
}

#[test]
fn show_jobs_is_case_insensitive() {
    for line in ["show jobs", "Show Jobs", "show JOBS", "SHOW jobs"] {
        assert_eq!(ok(line), AdminCommand::ShowJobs, "{line:?}");
    }
}

#[test]
fn show_unique_jobs_is_case_insensitive() {
    for line in ["show unique jobs", "show UNIQUE jobs", "SHOW Unique JOBS"] {
        assert_eq!(ok(line), AdminCommand::ShowUniqueJobs, "{line:?}");
    }
}

#[test]
fn show_with_other_arguments_is_unknown_show_arguments() {
    for line in [
        "show foo",
        "show jobs x",
        "show unique",
        "show unique jobs x",
        "show jobs unique",
        "show ",
        "show jobs ",
        "show unique jobs ",
    ] {
        assert_eq!(reply(line), "ERR UNKNOWN_SHOW_ARGUMENTS\r\n", "{line:?}");
    }
}

#[test]
fn cancel_with_fewer_than_three_tokens_is_an_unknown_command() {
    for line in ["cancel", "cancel job", "cancel "] {
        assert_eq!(
            reply(line),
            "ERR UNKNOWN_COMMAND Unknown+server+commandcancel\r\n",
            "{line:?}"
        );
    }
}

#[test]
fn cancel_job_takes_the_handle_as_typed() {
    assert_eq!(
        ok("cancel job H:x:1"),
        AdminCommand::Cancel { handle: b("H:x:1") }
    );
    assert_eq!(ok("cancel JOB h"), AdminCommand::Cancel { handle: b("h") });
    assert_eq!(
        ok("CANCEL job H:Box:7"),
        AdminCommand::Cancel {
            handle: b("H:Box:7")
        }
    );
}

#[test]
fn cancel_job_with_a_trailing_space_names_the_empty_handle() {
    // gearmand answers these with ERR UNKNOWN_JOB: the handle is the empty token.
    for line in ["cancel job ", "cancel job   ", "cancel  job "] {
        assert_eq!(ok(line), AdminCommand::Cancel { handle: b("") }, "{line:?}");
    }
}

#[test]
fn malformed_cancel_is_unknown_error() {
    for line in [
        "cancel a b",
        "cancel x y",
        "cancel job h extra",
        "cancel job x ",
    ] {
        assert_eq!(reply(line), "ERR UNKNOWN_ERROR\r\n", "{line:?}");
    }
}

#[test]
fn create_function_takes_a_name() {
    assert_eq!(
        ok("create function abc"),
        AdminCommand::CreateFunction(b("abc"))
    );
    assert_eq!(
        ok("create FUNCTION Abc"),
        AdminCommand::CreateFunction(b("Abc"))
    );
}

#[test]
fn create_with_wrong_arguments_is_invalid_arguments() {
    for line in [
        "create",
        "create function",
        "create x y",
        "create x y z",
        "create function ",
    ] {
        assert_eq!(reply(line), invalid_arguments("create"), "{line:?}");
    }
}

#[test]
fn drop_function_takes_a_name() {
    assert_eq!(
        ok("drop function abc"),
        AdminCommand::DropFunction(b("abc"))
    );
}

#[test]
fn drop_with_wrong_arguments_is_invalid_arguments() {
    for line in [
        "drop",
        "drop function",
        "drop x y",
        "drop x y z",
        "drop function a b",
        "drop function a ",
    ] {
        assert_eq!(reply(line), invalid_arguments("drop"), "{line:?}");
    }
}

#[test]
fn five_tokens_are_read() {
    assert_eq!(MAX_ADMIN_TOKENS, 5);
    assert_eq!(reply("a b c d e"), format!("{UNKNOWN}a\r\n"));
    assert_eq!(ok("status b c d e"), AdminCommand::Status);
}

#[test]
fn six_tokens_are_too_many_arguments() {
    for line in [
        "a b c d e f",
        "status b c d e f",
        "maxqueue f 1 2 3 4",
        " a b c d e",
        // Trailing spaces end in one more, empty, token (gearmand closes on these).
        "a b c d e ",
        "status b c d e ",
        "maxqueue f 1 2 3 ",
        "status a  b  c  d   ",
    ] {
        assert_eq!(parse(line), Err(AdminError::TooManyArguments), "{line:?}");
    }
    assert_eq!(
        AdminError::TooManyArguments.reply(),
        b"ERR INVALID_ARGUMENTS Too+many+arguments+were+sent+in+one+line\r\n"
    );
}

#[test]
fn runs_of_spaces_between_tokens_do_not_make_empty_tokens() {
    assert_eq!(ok("show   unique    jobs"), AdminCommand::ShowUniqueJobs);
    assert_eq!(
        ok("status a  b  c   d"),
        AdminCommand::Status,
        "still five tokens"
    );
    assert_eq!(
        ok("status a b c   "),
        AdminCommand::Status,
        "five with the empty one"
    );
}

#[test]
fn shutdown_parses_with_optional_graceful() {
    assert_eq!(ok("shutdown"), AdminCommand::Shutdown { graceful: false });
    assert_eq!(
        ok("shutdown graceful"),
        AdminCommand::Shutdown { graceful: true }
    );
    assert_eq!(
        ok("SHUTDOWN Graceful"),
        AdminCommand::Shutdown { graceful: true }
    );
}

/// Decode one admin line from `wire` with the codec, then parse it.
fn parse_wire(wire: &[u8]) -> Result<AdminCommand, AdminError> {
    let mut buf = BytesMut::from(wire);
    let Ok(Some(Frame::Admin(line))) = Codec::default().decode(&mut buf) else {
        panic!("{wire:?} is not one admin line")
    };
    assert!(buf.is_empty());
    AdminCommand::parse(&line)
}

#[test]
fn codec_and_parser_accept_lf_and_crlf_endings() {
    assert_eq!(parse_wire(b"status\n"), Ok(AdminCommand::Status));
    assert_eq!(parse_wire(b"status\r\n"), Ok(AdminCommand::Status));
    assert_eq!(
        parse_wire(b"cancel job H:x:1\r\n"),
        Ok(AdminCommand::Cancel { handle: b("H:x:1") })
    );
}

#[test]
fn second_carriage_return_stays_in_the_command_word() {
    let error = parse_wire(b"status\r\r\n").unwrap_err();
    assert_eq!(error, AdminError::UnknownCommand(b("status\r")));
    assert_eq!(
        error.reply(),
        b"ERR UNKNOWN_COMMAND Unknown+server+commandstatus\r\r\n"
    );
}

#[test]
fn invalid_arguments_echo_the_command_word_as_typed() {
    assert_eq!(reply("MAXQUEUE"), invalid_arguments("MAXQUEUE"));
    assert_eq!(reply("Create function"), invalid_arguments("Create"));
    assert_eq!(reply("DROP"), invalid_arguments("DROP"));
}

// ---------------------------------------------------------------------------------------------
// Reading answers
// ---------------------------------------------------------------------------------------------

fn read(shape: ReplyShape, lines: &[&str]) -> (Option<AdminReply>, usize) {
    let mut reader = AdminReplyReader::new(shape);
    for (i, line) in lines.iter().enumerate() {
        if let Some(reply) = reader.line(line.as_bytes()) {
            return (Some(reply), i + 1);
        }
    }
    (None, lines.len())
}

#[test]
fn listing_commands_end_with_a_dot_and_the_rest_with_one_line() {
    for line in [
        "status",
        "workers",
        "prioritystatus",
        "show jobs",
        "SHOW UNIQUE JOBS",
    ] {
        assert_eq!(
            ReplyShape::of_line(line.as_bytes()),
            ReplyShape::List,
            "{line}"
        );
    }
    for line in [
        "version",
        "getpid",
        "verbose",
        "maxqueue f 1",
        "cancel job x",
        "bogus",
        "",
        "shutdown",
    ] {
        assert_eq!(
            ReplyShape::of_line(line.as_bytes()),
            ReplyShape::Line,
            "{line}"
        );
    }
    assert_eq!(ReplyShape::of_line(b"status\r\n"), ReplyShape::List);
}

#[test]
fn a_listing_is_its_lines_without_the_dot_and_line_ends() {
    let (reply, used) = read(
        ReplyShape::List,
        &["f\t1\t0\t2\n", "g\t0\t0\t1\r\n", ".\n", "extra\n"],
    );
    assert_eq!(
        reply,
        Some(AdminReply::List(vec![
            "f\t1\t0\t2".into(),
            "g\t0\t0\t1".into()
        ]))
    );
    assert_eq!(used, 3);
    assert_eq!(
        read(ReplyShape::List, &[".\n"]).0,
        Some(AdminReply::List(vec![]))
    );
    let (unfinished, _) = read(ReplyShape::List, &["f\t1\t0\t2\n"]);
    assert_eq!(unfinished, None);
}

#[test]
fn an_err_line_first_is_the_whole_answer_whatever_the_shape() {
    for shape in [ReplyShape::Line, ReplyShape::List] {
        let (reply, used) = read(shape, &["ERR UNKNOWN_JOB\r\n", ".\n"]);
        assert_eq!(used, 1);
        let Some(AdminReply::Err(err)) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!((err.code.as_str(), err.text.as_str()), ("UNKNOWN_JOB", ""));
        assert_eq!(err.to_string(), "server error UNKNOWN_JOB");
    }
    let Some(AdminReply::Err(err)) = read(
        ReplyShape::Line,
        &["ERR INVALID_ARGUMENTS An+incomplete+set+drop\r\n"],
    )
    .0
    else {
        panic!()
    };
    assert_eq!(err.code, "INVALID_ARGUMENTS");
    assert_eq!(err.text, "An incomplete set drop");
    assert_eq!(err.line, "ERR INVALID_ARGUMENTS An+incomplete+set+drop");
    let Some(AdminReply::Err(err)) = read(ReplyShape::Line, &["ERR function not found\r\n"]).0
    else {
        panic!()
    };
    assert_eq!(
        (err.code.as_str(), err.text.as_str()),
        ("", "function not found")
    );
    assert_eq!(err.to_string(), "server error: function not found");
}

#[test]
fn one_line_answers_are_taken_as_they_are() {
    assert_eq!(
        read(ReplyShape::Line, &["OK 1.1.20\n"]).0,
        Some(AdminReply::Line("OK 1.1.20".into()))
    );
    assert_eq!(
        read(ReplyShape::Line, &["OK\r\n"]).0,
        Some(AdminReply::Line("OK".into()))
    );
}

#[test]
fn gearbox_commands_parse_with_their_arguments() {
    use gearbox_proto::{DeadSelector, ResultKey};
    assert_eq!(ok("show scheduled"), AdminCommand::ShowScheduled);
    assert_eq!(ok("dead list"), AdminCommand::DeadList(None));
    assert_eq!(
        ok("DEAD LIST resize"),
        AdminCommand::DeadList(Some(b("resize")))
    );
    assert_eq!(ok("dead show 17"), AdminCommand::DeadShow(17));
    assert_eq!(
        ok("dead retry 3"),
        AdminCommand::DeadRetry(DeadSelector::Id(3))
    );
    assert_eq!(
        ok("dead retry all"),
        AdminCommand::DeadRetry(DeadSelector::All)
    );
    assert_eq!(
        ok("dead purge billing.charge"),
        AdminCommand::DeadPurge(DeadSelector::Function(b("billing.charge")))
    );
    assert_eq!(
        ok("result H:box:12"),
        AdminCommand::Result(ResultKey::Handle(b("H:box:12")))
    );
    assert_eq!(
        ok("result resize img-7"),
        AdminCommand::Result(ResultKey::Unique {
            function: b("resize"),
            unique: b("img-7"),
        })
    );
    for line in [
        "dead",
        "dead list a b",
        "dead show",
        "dead show x",
        "dead retry",
        "dead purge ",
        "dead bury 1",
    ] {
        assert_eq!(reply(line), invalid_arguments("dead"), "{line:?}");
    }
    for line in ["result", "result a b c"] {
        assert_eq!(reply(line), invalid_arguments("result"), "{line:?}");
    }
    for (line, shape) in [
        ("show scheduled", ReplyShape::List),
        ("dead list", ReplyShape::List),
        ("dead show 1", ReplyShape::List),
        ("dead retry all", ReplyShape::Line),
        ("dead purge 1", ReplyShape::Line),
        ("result H:x:1", ReplyShape::Line),
    ] {
        assert_eq!(ReplyShape::of_line(line.as_bytes()), shape, "{line:?}");
    }
}
