//! Free loopback ports for one `weed mini`: five HTTP ports, each with its gRPC port at +10000.
//!
//! weed's admin plugin worker dials the admin HTTP port + 10000 whatever `-admin.port.grpc`
//! says, so every component keeps weed's own +10000 rule. HTTP ports are drawn at random from
//! 21000..22760, which puts the gRPC ports in 31000..32760: below Linux's ephemeral range
//! (32768 and up, where outgoing connections take their local ports) and clear of the local
//! control plane's fixed ports (12379 to 20259). Ports handed out in this process are remembered
//! until released, so parallel tests in one process never draw the same; other processes are
//! avoided by checking that both ports of a pair can be bound, and by the caller retrying when
//! weed still finds one taken.

use std::{
    collections::BTreeSet,
    hash::{BuildHasher, Hasher},
    net::TcpListener,
    sync::{Mutex, PoisonError},
};

/// Offset from a component's HTTP port to its gRPC port.
pub const GRPC_OFFSET: u16 = 10_000;
const LOWEST: u16 = 21_000;
const HIGHEST: u16 = 22_760;

/// Ports claimed by live servers of this process.
static CLAIMED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// The HTTP ports of one server (gRPC: each + [`GRPC_OFFSET`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Master server.
    pub master: u16,
    /// Volume server.
    pub volume: u16,
    /// Filer (also its HTTP API, used to create buckets and list multipart uploads).
    pub filer: u16,
    /// S3 gateway.
    pub s3: u16,
    /// Admin server (its UI is off, but it still listens).
    pub admin: u16,
}

impl Ports {
    /// Claims five free port pairs.
    pub fn claim() -> Self {
        let mut random = Random::new();
        let mut claimed = CLAIMED.lock().unwrap_or_else(PoisonError::into_inner);
        let mut picked = Vec::with_capacity(5);
        while picked.len() < 5 {
            let port = LOWEST + (random.next() % u64::from(HIGHEST - LOWEST)) as u16;
            if !claimed.contains(&port) && bindable(port) && bindable(port + GRPC_OFFSET) {
                claimed.insert(port);
                picked.push(port);
            }
        }
        Self {
            master: picked[0],
            volume: picked[1],
            filer: picked[2],
            s3: picked[3],
            admin: picked[4],
        }
    }

    /// Every port weed listens on, HTTP and gRPC.
    pub fn all(&self) -> [u16; 10] {
        let http = self.http();
        let mut all = [0; 10];
        for (i, port) in http.into_iter().enumerate() {
            all[2 * i] = port;
            all[2 * i + 1] = port + GRPC_OFFSET;
        }
        all
    }

    /// Gives the ports back to this process's pool.
    pub fn release(&self) {
        let mut claimed = CLAIMED.lock().unwrap_or_else(PoisonError::into_inner);
        for port in self.http() {
            claimed.remove(&port);
        }
    }

    /// The `weed mini` flags that put every component on these ports.
    pub fn flags(&self) -> Vec<String> {
        [
            ("master", self.master),
            ("volume", self.volume),
            ("filer", self.filer),
            ("s3", self.s3),
            ("admin", self.admin),
        ]
        .into_iter()
        .flat_map(|(name, port)| {
            [
                format!("-{name}.port={port}"),
                format!("-{name}.port.grpc={}", port + GRPC_OFFSET),
            ]
        })
        .collect()
    }

    fn http(&self) -> [u16; 5] {
        [self.master, self.volume, self.filer, self.s3, self.admin]
    }
}

fn bindable(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// splitmix64 seeded from the standard library's per-process random hasher keys.
struct Random(u64);

impl Random {
    fn new() -> Self {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        Self(hasher.finish())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_claims_never_share_a_port_and_grpc_is_http_plus_offset() {
        let a = Ports::claim();
        let b = Ports::claim();
        let mut all: Vec<u16> = a.all().into_iter().chain(b.all()).collect();
        assert!(
            all.iter()
                .all(|p| (LOWEST..HIGHEST + GRPC_OFFSET).contains(p))
        );
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 20);
        assert!(
            a.flags()
                .contains(&format!("-s3.port.grpc={}", a.s3 + GRPC_OFFSET))
        );
        a.release();
        b.release();
    }
}
