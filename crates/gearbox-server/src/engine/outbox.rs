//! The [`Outbox`]: everything the engine asks of the world around it, and nothing else.
//!
//! The network layer implements it over connection buffers and the store thread; tests record
//! it. The engine calls it only through `conns.rs` for packets and text (which keeps each
//! connection's output in order) and directly for closes, store writes and read-backs. An
//! implementation must not call back into the engine.

use bytes::Bytes;
use gearbox_proto::PacketType;

use super::{ConnId, StoreOp};

/// Where the engine's answers go. The network layer implements it over connection buffers;
/// tests implement it with a recorder.
pub trait Outbox {
    /// Send a packet to `conn`: `fields` NUL-terminated, then the final field `last`.
    fn packet(&mut self, conn: ConnId, kind: PacketType, fields: &[&[u8]], last: &[u8]);

    /// Send a packet whose final field is a shared buffer, which need not be copied.
    fn packet_shared(&mut self, conn: ConnId, kind: PacketType, fields: &[&[u8]], last: &Bytes) {
        self.packet(conn, kind, fields, last);
    }

    /// Send admin text to `conn`, in one piece.
    fn text(&mut self, conn: ConnId, text: &[u8]);

    /// Close `conn` once what was sent to it is written.
    fn close(&mut self, conn: ConnId);

    /// An administrator asked the server to stop.
    fn shutdown(&mut self, graceful: bool);

    /// Write `op` to the durable store; `seq` grows with every call. The network layer reports
    /// the outcome back through [`Engine::committed`].
    fn persist(&mut self, seq: u64, op: StoreOp);

    /// Read back the workloads of the stored jobs `ids`, after every write persisted so far.
    /// The network layer reports the outcome back through [`Engine::loaded`] with `token`.
    fn load(&mut self, token: u64, ids: Vec<u64>);

    /// Find the stored jobs with `unique` (in a cluster: jobs other nodes hold), after every
    /// write persisted so far. The network layer reports the ids through [`Engine::loaded`]
    /// with `token`, each with an empty workload.
    fn find(&mut self, token: u64, unique: Bytes);

    /// Cancel the stored job `id` that another node of the cluster holds or may claim, after
    /// every write persisted so far. The network layer reports through [`Engine::loaded`] with
    /// `token`: `id` with an empty workload if its row was there, nothing if not.
    fn cancel(&mut self, token: u64, id: u64);

    /// Look up whether the job `id` is stored and the record `kind`/`key` (in a cluster:
    /// another node's), after every write persisted so far. The network layer reports through
    /// [`Engine::loaded`] with `token`: `id` with an empty workload if the job is stored, and
    /// `gearbox_store::RECORD_ROW` with the record's body if it is stored.
    fn find_record(&mut self, token: u64, id: u64, kind: u8, key: Bytes);
}
