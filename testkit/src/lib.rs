//! Real components for the workspace's tests and benchmarks, started by the test itself.
//!
//! - [`seaweed`]: SeaweedFS `weed mini` as a local S3 on free loopback ports, with a bucket, an
//!   access key and a helper to look inside the bucket ([`seaweed::SeaweedFs`]).
//! - [`location`]: where `cargo xtask seaweedfs` installs the `weed` binary and `cargo xtask
//!   node` the gateway (shared with xtask, which depends on this crate without its `server`
//!   feature).
//! - [`guide`]: the user guide's YAML blocks (`tests/fixtures/seed`).
//! - [`http`]: a loopback server answering every request with one fixed response.
//! - [`ollama`]: a loopback Ollama sidecar (pulls, loads, and VRAM placement as asked).
//! - [`upstreams`]: loopback ClawHub, npm registry and PyPI index, counting the requests they
//!   serve, and [`upstreams::zip`].
//! - [`registry`]: Debian's real `docker-registry` on a loopback port.

pub mod guide;
#[cfg(feature = "server")]
pub mod http;
pub mod location;
#[cfg(feature = "server")]
pub mod ollama;
pub mod raw_http;
pub mod registry;
#[cfg(feature = "server")]
pub mod seaweed;
#[cfg(feature = "server")]
pub mod upstreams;
