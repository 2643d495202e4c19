//! `openclaw-init`: installs the supervisor binary into the pod's shared volume.

fn main() {
    println!("openclaw-init {}", env!("CARGO_PKG_VERSION"));
}
