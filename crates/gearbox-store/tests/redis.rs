//! The Redis store against the real server on 127.0.0.1:6379, each test under a key prefix
//! of its own. This Redis keeps nothing on disk, so its restart test expects the jobs written
//! before the restart to be gone (see docs/durability.md).
#![cfg(feature = "redis")]

mod suite;

use gearbox_store::{JobStore, RedisSettings, RedisStore, StoreError, StoreOp};
use gearbox_testkit::services;
use suite::{Backend, Scratch};

struct Redis;

impl Backend for Redis {
    type Store = RedisStore;
    const SERVICE: services::Service = services::Service::Redis;
    const KEEPS_DATA_ACROSS_RESTART: bool = false;

    fn open(name: &str) -> Result<RedisStore, StoreError> {
        RedisStore::open(&RedisSettings::default(), name)
    }

    fn remove(name: &str) {
        if let Ok(mut store) = RedisStore::open(&RedisSettings::default(), name) {
            let _ = store.drop_keys();
        }
    }
}

backend_tests!(Redis);

fn redis_cli(args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379"])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The layout documented in docs/durability.md: a hash of jobs and a sorted set of ids.
#[test]
fn the_layout_is_a_hash_and_a_sorted_set() {
    let Some(scratch) = Scratch::<Redis>::shared() else {
        return;
    };
    let mut store = scratch.open();
    store
        .append(&[StoreOp::Put(suite::job(42, b"u", b"x"))])
        .unwrap();
    let p = &scratch.name;
    assert_eq!(redis_cli(&["TYPE", &format!("{p}:jobs")]), "hash");
    assert_eq!(redis_cli(&["TYPE", &format!("{p}:ids")]), "zset");
    assert_eq!(
        redis_cli(&["ZRANGE", &format!("{p}:ids"), "0", "-1"]),
        "00000000000000000042"
    );
    assert_eq!(store.len().unwrap(), 1);
}

/// Records are one hash, `<prefix>:records`, whose fields are the kind byte and the key.
#[test]
fn records_are_one_hash_keyed_by_kind_and_key() {
    let Some(scratch) = Scratch::<Redis>::shared() else {
        return;
    };
    let mut store = scratch.open();
    store
        .append(&[
            StoreOp::PutRecord(suite::record(b'A', b"key", b"body")),
            StoreOp::PutRecord(suite::record(b'B', b"gone", b"x")),
        ])
        .unwrap();
    store
        .append(&[StoreOp::DropRecord {
            kind: b'B',
            key: bytes::Bytes::from_static(b"gone"),
        }])
        .unwrap();
    let key = format!("{}:records", scratch.name);
    assert_eq!(redis_cli(&["TYPE", &key]), "hash");
    assert_eq!(redis_cli(&["HKEYS", &key]), "Akey");
    assert_eq!(redis_cli(&["HGET", &key, "Akey"]), "body");
}

#[test]
fn a_url_works_as_well_as_settings() {
    let Some(scratch) = Scratch::<Redis>::shared() else {
        return;
    };
    let mut store = RedisStore::open_url("redis://127.0.0.1:6379/0", &scratch.name).unwrap();
    store
        .append(&[StoreOp::Put(suite::job(1, b"", b"x"))])
        .unwrap();
    assert_eq!(store.len().unwrap(), 1);
}

#[test]
fn a_wrong_password_is_an_error() {
    let Some(_scratch) = Scratch::<Redis>::shared() else {
        return;
    };
    let settings = RedisSettings {
        password: Some("not-the-password".into()),
        ..RedisSettings::default()
    };
    assert!(RedisStore::open(&settings, "gbt_never").is_err());
}
