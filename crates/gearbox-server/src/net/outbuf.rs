//! A connection's unsent output: small packets are encoded into one growing buffer, large
//! payloads are queued as shared buffers, and the whole sequence is written with vectored I/O.
//!
//! Order is preserved exactly. A large payload is never copied: only its header and leading
//! fields are encoded, then the payload's own buffer follows. Once everything is written the
//! buffer gives its memory back, so an idle connection holds nothing large.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use gearbox_proto::{encode_head, Magic, PacketType};

/// Payloads at least this large are queued by reference instead of copied.
const SHARE_AT: usize = 16 * 1024;
/// After a full flush, an encoding buffer larger than this is released.
const KEEP_CAPACITY: usize = 16 * 1024;
/// At most this many buffers go into one vectored write.
const MAX_SLICES: usize = 64;

/// Pending output of one connection.
#[derive(Debug, Default)]
pub struct OutBuf {
    /// Buffers ahead of `tail`, in order.
    queued: VecDeque<Bytes>,
    /// Where small output is encoded; written after `queued`.
    tail: BytesMut,
    /// Unsent bytes in total.
    len: usize,
}

impl OutBuf {
    /// Unsent bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when everything has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append a server packet (`\0RES`).
    pub fn packet(&mut self, kind: PacketType, fields: &[&[u8]], last: &[u8]) {
        let before = self.tail.len();
        encode_head(&mut self.tail, Magic::Res, kind, fields, last.len());
        self.tail.extend_from_slice(last);
        self.len += self.tail.len() - before;
    }

    /// Append a server packet whose final field is shared, copying it only when small.
    pub fn packet_shared(&mut self, kind: PacketType, fields: &[&[u8]], last: &Bytes) {
        if last.len() < SHARE_AT {
            return self.packet(kind, fields, last);
        }
        let before = self.tail.len();
        encode_head(&mut self.tail, Magic::Res, kind, fields, last.len());
        self.len += self.tail.len() - before + last.len();
        let head = self.tail.split().freeze();
        self.queued.push_back(head);
        self.queued.push_back(last.clone());
    }

    /// Append raw text (admin answers).
    pub fn text(&mut self, text: &[u8]) {
        self.tail.extend_from_slice(text);
        self.len += text.len();
    }

    /// Fill `slices` with what is to be written next; returns how many were filled.
    pub fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let mut n = 0;
        for chunk in self.queued.iter().filter(|c| !c.is_empty()) {
            if n == MAX_SLICES {
                return n;
            }
            slices[n] = IoSlice::new(chunk);
            n += 1;
        }
        if n < MAX_SLICES && !self.tail.is_empty() {
            slices[n] = IoSlice::new(&self.tail);
            n += 1;
        }
        n
    }

    /// Mark `written` bytes as sent.
    pub fn advance(&mut self, mut written: usize) {
        self.len -= written;
        while written > 0 {
            let Some(front) = self.queued.front_mut() else {
                break;
            };
            let step = written.min(front.len());
            front.advance(step);
            written -= step;
            if front.is_empty() {
                self.queued.pop_front();
            }
        }
        if written > 0 {
            self.tail.advance(written);
        }
        if self.len == 0 {
            self.queued.clear();
            if self.tail.capacity() > KEEP_CAPACITY {
                self.tail = BytesMut::new();
            } else {
                self.tail.clear();
            }
        }
    }

    /// Drop everything unsent (the connection is being cut off).
    pub fn discard(&mut self) {
        *self = OutBuf::default();
    }

    /// An empty slice array for [`OutBuf::slices`].
    pub fn slice_array<'a>() -> [IoSlice<'a>; MAX_SLICES] {
        [IoSlice::new(&[]); MAX_SLICES]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(out: &OutBuf) -> Vec<u8> {
        let mut slices = OutBuf::slice_array();
        let n = out.slices(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn large_payload_keeps_order_between_small_packets() {
        let mut out = OutBuf::default();
        out.packet(PacketType::Noop, &[], &[]);
        let big = Bytes::from(vec![7u8; SHARE_AT]);
        out.packet_shared(PacketType::WorkComplete, &[b"H:x:1"], &big);
        out.text(b"OK\r\n");
        let bytes = written(&out);
        assert_eq!(bytes.len(), out.len());
        assert_eq!(&bytes[..12], b"\0RES\0\0\0\x06\0\0\0\0");
        assert_eq!(&bytes[12..16], b"\0RES");
        assert_eq!(&bytes[bytes.len() - 4..], b"OK\r\n");
        assert_eq!(bytes.len(), 12 + 12 + 6 + SHARE_AT + 4);
    }

    #[test]
    fn partial_writes_resume_where_they_stopped_and_free_memory_when_done() {
        let mut out = OutBuf::default();
        let big = Bytes::from(vec![1u8; SHARE_AT * 2]);
        out.packet_shared(PacketType::EchoRes, &[], &big);
        out.text(b"tail");
        let all = written(&out);
        let mut seen = Vec::new();
        while !out.is_empty() {
            let chunk = written(&out);
            let step = chunk.len().min(1000);
            seen.extend_from_slice(&chunk[..step]);
            out.advance(step);
        }
        assert_eq!(seen, all);
        assert_eq!(out.len(), 0);
        assert!(out.tail.capacity() <= KEEP_CAPACITY);
    }
}
