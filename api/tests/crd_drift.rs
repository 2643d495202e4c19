//! Fails when the committed CRD YAML (crds/ and the chart's copy) drifts from the Rust types.

use std::path::Path;

use openclaw_api::crd::{CHART_CRD_FILE, CRD_FILE, render_crds_yaml};

#[test]
fn committed_crds_match_the_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let expected = render_crds_yaml();
    for rel in [CRD_FILE, CHART_CRD_FILE] {
        let committed = std::fs::read_to_string(root.join(rel)).unwrap_or_default();
        assert!(
            committed == expected,
            "{rel} is out of date with the Rust types in api/src: run cargo xtask gen"
        );
    }
}
