//! The supervisor's own signals turned into [`Control`]s for the gateway.
//!
//! - SIGTERM, SIGINT: stop. The gateway receives the same signal, gets its drain budget, then
//!   SIGKILL. A second one escalates at once.
//! - SIGUSR2, SIGHUP: reload. A running gateway receives SIGUSR2 (its in-process restart,
//!   which re-reads the configuration); a gateway waiting after a configuration error is
//!   started again now. SIGHUP is translated because the gateway has no SIGHUP handler and
//!   would die of it.
//!
//! Handlers must exist before the signal arrives: as PID 1, a signal without a handler is
//! dropped by the kernel, so [`Signals::install`] is called early in `main`.

use std::io;

use nix::sys::signal::Signal;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc,
};

/// What the supervisor asks of the gateway's supervision loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop the gateway with this signal, then SIGKILL after the drain budget; do not restart.
    Stop(Signal),
    /// The configuration may have changed: SIGUSR2 to a running gateway, or retry one that is
    /// waiting after a configuration error.
    Reload,
    /// Send this signal to the running gateway as is.
    Forward(Signal),
}

/// The control a signal to the supervisor means.
pub fn control_for(signal: Signal) -> Option<Control> {
    match signal {
        Signal::SIGTERM | Signal::SIGINT => Some(Control::Stop(signal)),
        Signal::SIGHUP | Signal::SIGUSR2 => Some(Control::Reload),
        _ => None,
    }
}

/// Installed handlers for the signals the supervisor passes on.
#[derive(Debug)]
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (inside a tokio runtime).
    pub fn install() -> io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }

    /// The next signal received.
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.hup.recv() => Signal::SIGHUP,
            _ = self.usr2.recv() => Signal::SIGUSR2,
        }
    }

    /// Sends the [`Control`] of every signal to `tx` until its receiver is gone.
    pub async fn forward(mut self, tx: mpsc::Sender<Control>) {
        loop {
            let sig = tokio::select! {
                sig = self.recv() => sig,
                () = tx.closed() => return,
            };
            tracing::info!(signal = %sig, "signal received");
            if let Some(control) = control_for(sig)
                && tx.send(control).await.is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_meanings() {
        assert_eq!(
            control_for(Signal::SIGTERM),
            Some(Control::Stop(Signal::SIGTERM))
        );
        assert_eq!(
            control_for(Signal::SIGINT),
            Some(Control::Stop(Signal::SIGINT))
        );
        assert_eq!(control_for(Signal::SIGHUP), Some(Control::Reload));
        assert_eq!(control_for(Signal::SIGUSR2), Some(Control::Reload));
        assert_eq!(
            control_for(Signal::SIGUSR1),
            None,
            "SIGUSR1 opens Node's inspector"
        );
    }
}
