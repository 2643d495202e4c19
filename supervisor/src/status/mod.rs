//! The supervisor's HTTP side: the status server (probes, `/status`, `/metrics`, control
//! endpoints), the poller of the gateway's own probes, and the `status` command's table.

pub mod channels;
pub mod client;
pub mod control;
pub mod gateway_log;
pub mod gateway_probe;
pub mod health;
pub mod metrics;
pub mod server;
pub mod table;
