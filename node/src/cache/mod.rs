//! The node-local, content-addressed download cache (being written).
