//! Differential tests: the same scripted exchange of binary packets and admin lines, sent over
//! raw TCP to gearmand 1.1.20 and to gearboxd, must produce the same replies.
//!
//! Each scenario runs once per server against a fresh process. Every request and reply is
//! recorded in a transcript after normalisation: job handles become `H1`, `H2`… in order of
//! appearance, `workers` fd numbers become `FD`, `getpid` answers become `OK <pid>`, and the
//! lines of the listing commands (`status`, `workers`, `prioritystatus`, `show jobs`,
//! `show unique jobs`), whose order is unspecified, are sorted. The two transcripts must be
//! equal.
//!
//! Where gearboxd deliberately differs from gearmand (PROTOCOL.md [G-bug] and [R] items), the
//! test is named `difference_*` and asserts each server's own answer explicitly.
//!
//! The harness (normalisation, sessions, `differential`, `each`) is
//! `gearbox_testkit::differential`; this binary holds the scenarios, one file per topic.

mod admin;
mod coalescing;
mod differences;
mod exceptions;
mod priorities;
mod submit;
mod utility;
mod worker;
