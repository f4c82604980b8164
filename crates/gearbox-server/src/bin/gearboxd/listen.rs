//! The listening sockets: which addresses (`-L`, `-p`, every IPv4 and IPv6 address by
//! default) and how they are bound (backlog, SO_REUSEADDR, IPv6-only). Nothing here accepts a
//! connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context as _, Result};
use tracing::warn;

use crate::args::Args;

pub fn addrs(args: &Args) -> Result<Vec<SocketAddr>> {
    if args.listen.is_empty() {
        return Ok(vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), args.port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), args.port),
        ]);
    }
    args.listen
        .iter()
        .map(|text| {
            if let Ok(addr) = text.parse::<SocketAddr>() {
                return Ok(addr);
            }
            let host = text.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(SocketAddr::new(ip, args.port));
            }
            std::net::ToSocketAddrs::to_socket_addrs(&(host, args.port))
                .with_context(|| format!("resolving listen address {text}"))?
                .next()
                .with_context(|| format!("listen address {text} resolves to nothing"))
        })
        .collect()
}

pub fn bind(
    addr: SocketAddr,
    backlog: u32,
    only_default: bool,
) -> Result<Option<std::net::TcpListener>> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        // The IPv4 wildcard has its own listener; keep the IPv6 one to IPv6.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    if let Err(e) = socket.bind(&addr.into()) {
        // With no -L, a machine without IPv6 still serves IPv4.
        if only_default && addr.is_ipv6() {
            warn!(%addr, error = %e, "not listening on IPv6");
            return Ok(None);
        }
        return Err(e).with_context(|| format!("binding {addr}"));
    }
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(Some(socket.into()))
}
