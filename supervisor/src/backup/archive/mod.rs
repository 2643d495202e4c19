//! The archive format: a tar stream compressed with zstd, and the manifest of its entries.
