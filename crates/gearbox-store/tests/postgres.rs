//! The PostgreSQL store against the real server on 127.0.0.1:5432 (user postgres, database
//! test), each test in a table of its own; plus the take-over of a gearmand `-q libpq` table.
#![cfg(feature = "postgres")]

mod suite;

use gearbox_store::{JobStore, PostgresStore, StoreError};
use gearbox_testkit::services;
use suite::{replayed, Backend, Scratch};

const CONNINFO: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

struct Postgres;

impl Backend for Postgres {
    type Store = PostgresStore;
    const SERVICE: services::Service = services::Service::Postgres;
    const KEEPS_DATA_ACROSS_RESTART: bool = true;

    fn open(name: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(CONNINFO, name)
    }

    fn remove(name: &str) {
        if let Ok(mut store) = PostgresStore::open(CONNINFO, name) {
            let _ = store.drop_table();
        }
    }
}

backend_tests!(Postgres);

fn psql(sql: &str) {
    let status = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .status()
        .expect("psql");
    assert!(status.success(), "psql {sql}");
}

/// A table in gearmand's layout (its own DDL) is converted in place, in insertion order, and
/// its jobs come before new ones.
#[test]
fn a_gearmand_libpq_table_is_taken_over() {
    let Some(scratch) = Scratch::<Postgres>::shared() else {
        return;
    };
    let t = &scratch.name;
    psql(&format!(
        "CREATE TABLE {t} (unique_key VARCHAR(64), function_name VARCHAR(255), \
         priority INTEGER, data BYTEA, when_to_run INTEGER, UNIQUE (unique_key, function_name)); \
         INSERT INTO {t} VALUES ('u-2', 'second', 0, '\\x00ff'::bytea, 0); \
         INSERT INTO {t} VALUES ('u-1', 'first', 1, 'one', 0); \
         INSERT INTO {t} VALUES ('u-3', 'third', 2, 'three', 1900000000);"
    ));
    let mut store = scratch.open();
    let jobs = replayed(&mut store);
    let summary = suite::summary(&jobs);
    assert_eq!(
        summary,
        vec![
            (&b"u-2"[..], &b"second"[..], 0, &b"\x00\xff"[..], 0),
            (b"u-1", b"first", 1, b"one", 0),
            (b"u-3", b"third", 2, b"three", 1_900_000_000),
        ]
    );
    store
        .append(&[gearbox_store::StoreOp::Put(suite::job(
            1_000_000, b"", b"new",
        ))])
        .unwrap();
    assert_eq!(replayed(&mut scratch.open()).len(), 4);
}

/// A queue table from before records gets its records table on open.
#[test]
fn a_store_from_before_records_gets_its_records_table() {
    suite::a_store_from_before_records_gets_its_records_table::<Postgres>(psql);
}

#[test]
fn the_longest_table_name_has_room_for_its_records_table() {
    suite::the_longest_table_name_has_room_for_its_records_table::<Postgres>(40);
}

#[test]
fn a_bad_table_name_is_refused() {
    assert!(PostgresStore::open(CONNINFO, "x; DROP TABLE y").is_err());
}

#[test]
fn a_url_works_as_well_as_key_value_pairs() {
    let Some(scratch) = Scratch::<Postgres>::shared() else {
        return;
    };
    let mut store =
        PostgresStore::open("postgres://postgres@127.0.0.1:5432/test", &scratch.name).unwrap();
    store
        .append(&[gearbox_store::StoreOp::Put(suite::job(1, b"", b"x"))])
        .unwrap();
    assert_eq!(store.len().unwrap(), 1);
}

/// A table written by Debian's gearmand (`-q Postgres`) is taken over in order.
#[test]
fn a_queue_written_by_gearmand_is_taken_over() {
    let Some(scratch) = Scratch::<Postgres>::shared() else {
        return;
    };
    let conninfo = "host=127.0.0.1 port=5432 user=postgres dbname=test";
    let args = [
        "-q",
        "Postgres",
        "--libpq-conninfo",
        conninfo,
        "--libpq-table",
    ];
    if !suite::fill_with_gearmand(&args, &scratch.name) {
        return;
    }
    suite::check_gearmand_jobs(&replayed(&mut scratch.open()));
}
