//! The MySQL/MariaDB store against the real server on 127.0.0.1:3306 (root, database test),
//! each test in a table of its own; plus the take-over of a gearmand `-q mysql` table.
#![cfg(feature = "mysql")]

mod suite;

use gearbox_store::{JobStore, MysqlSettings, MysqlStore, StoreError, StoreOp};
use gearbox_testkit::services;
use suite::{replayed, Backend, Scratch};

fn settings() -> MysqlSettings {
    MysqlSettings {
        host: "127.0.0.1".into(),
        port: 3306,
        user: Some("root".into()),
        password: None,
        database: Some("test".into()),
    }
}

struct Mysql;

impl Backend for Mysql {
    type Store = MysqlStore;
    const SERVICE: services::Service = services::Service::Mysql;
    const KEEPS_DATA_ACROSS_RESTART: bool = true;

    fn open(name: &str) -> Result<MysqlStore, StoreError> {
        MysqlStore::open(&settings(), name)
    }

    fn remove(name: &str) {
        if let Ok(mut store) = MysqlStore::open(&settings(), name) {
            let _ = store.drop_table();
        }
    }
}

backend_tests!(Mysql);

fn mariadb(sql: &str) {
    let status = std::process::Command::new("mariadb")
        .args(["-h127.0.0.1", "-P3306", "-uroot", "test", "-e", sql])
        .status()
        .expect("mariadb");
    assert!(status.success(), "mariadb {sql}");
}

/// A table in gearmand's MySQL layout (its own DDL) is taken over, in insertion order.
#[test]
fn a_gearmand_mysql_table_is_taken_over() {
    let Some(scratch) = Scratch::<Mysql>::shared() else {
        return;
    };
    let t = &scratch.name;
    mariadb(&format!(
        "CREATE TABLE {t} (unique_key VARCHAR(64), function_name VARCHAR(255), priority INT, \
         data LONGBLOB, when_to_run INT, UNIQUE KEY unique_key (unique_key, function_name)) \
         ENGINE=InnoDB; \
         INSERT INTO {t} VALUES ('u-2', 'second', 0, x'00ff', 0); \
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
        .append(&[StoreOp::Put(suite::job(1_000_000, b"", b"new"))])
        .unwrap();
    assert_eq!(replayed(&mut scratch.open()).len(), 4);
    // Nothing is left aside.
    let mut aside = MysqlStore::open(&settings(), &format!("{t}_gearmand_import")).unwrap();
    assert!(aside.is_empty().unwrap());
    aside.drop_table().unwrap();
}

/// A queue table from before records gets its records table on open.
#[test]
fn a_store_from_before_records_gets_its_records_table() {
    suite::a_store_from_before_records_gets_its_records_table::<Mysql>(mariadb);
}

#[test]
fn the_longest_table_name_has_room_for_its_records_table() {
    suite::the_longest_table_name_has_room_for_its_records_table::<Mysql>(40);
}

#[test]
fn a_bad_table_name_is_refused() {
    assert!(MysqlStore::open(&settings(), "x; DROP TABLE y").is_err());
}

#[test]
fn a_database_is_required() {
    let settings = MysqlSettings {
        database: None,
        ..settings()
    };
    assert!(matches!(
        MysqlStore::open(&settings, "q"),
        Err(StoreError::Settings(_))
    ));
}

#[test]
fn a_url_works_as_well_as_settings() {
    let Some(scratch) = Scratch::<Mysql>::shared() else {
        return;
    };
    let mut store =
        MysqlStore::open_url("mysql://root@127.0.0.1:3306/test", &scratch.name).unwrap();
    store
        .append(&[StoreOp::Put(suite::job(1, b"", b"x"))])
        .unwrap();
    assert_eq!(store.len().unwrap(), 1);
}

/// A table written by Debian's gearmand (`-q MySQL`) is taken over in order.
#[test]
fn a_queue_written_by_gearmand_is_taken_over() {
    let Some(scratch) = Scratch::<Mysql>::shared() else {
        return;
    };
    let args = [
        "-q",
        "MySQL",
        "--mysql-host",
        "127.0.0.1",
        "--mysql-user",
        "root",
        "--mysql-db",
        "test",
        "--mysql-table",
    ];
    if !suite::fill_with_gearmand(&args, &scratch.name) {
        return;
    }
    suite::check_gearmand_jobs(&replayed(&mut scratch.open()));
}
