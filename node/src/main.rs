//! `openclaw-node`: the node agent's entrypoint.

fn main() {}
