//! `openclaw-supervisor`: PID 1 of an OpenClaw pod (start-up pipeline, gateway supervision).

fn main() {
    println!("openclaw-supervisor {}", env!("CARGO_PKG_VERSION"));
}
