//! The real node's network on this machine: a bridge attached to no outside interface, the test
//! range kept from leaving the machine, and the kernel switches kube-proxy needs; undone by `down`.
//!
//! Addresses all come from the benchmarking range 198.18.0.0/15 (RFC 2544). Every address of that
//! range that is not on the bridge is `unreachable`, and an nftables table of ours drops anything
//! forwarded between the bridge and another interface, so no pod or Service packet can be routed
//! or NATed off the machine whatever kube-proxy or a NetworkPolicy does.

use std::{fs, process::Command};

use anyhow::{Context, Result, bail};

use super::addr::{BRIDGE, NODE_IP, POD_PREFIX, SERVICE_CIDR, TEST_RANGE};

/// The nftables table that guards the test range (ours alone; deleted by `down`).
pub const GUARD_TABLE: &str = "openclaw_dev_guard";

/// Creates the bridge, the guard routes and rules, and sets the sysctls. Idempotent.
pub fn up() -> Result<()> {
    if !link_exists(BRIDGE) {
        ip(&["link", "add", BRIDGE, "type", "bridge"])?;
    }
    let cidr = format!("{NODE_IP}/{POD_PREFIX}");
    let addrs = ip_out(&["-o", "-4", "addr", "show", "dev", BRIDGE])?;
    if !addrs.contains(&cidr) {
        ip(&["addr", "add", &cidr, "dev", BRIDGE])?;
    }
    ip(&["link", "set", BRIDGE, "up"])?;
    // The rest of the test range goes nowhere (fails at once instead of leaving by the
    // default route); the bridge's own /24 is more specific and wins.
    ip(&["route", "replace", "unreachable", TEST_RANGE])?;
    // The host reaches Service addresses as a node does (the API server calls webhooks through
    // their Service): routed onto the bridge, where kube-proxy's OUTPUT rules translate them to
    // a pod address on that same bridge. Nothing leaves the machine.
    ip(&[
        "route",
        "replace",
        SERVICE_CIDR,
        "dev",
        BRIDGE,
        "src",
        NODE_IP,
    ])?;
    for (path, value) in [
        ("/proc/sys/net/ipv4/ip_forward", "1"),
        ("/proc/sys/net/bridge/bridge-nf-call-iptables", "1"),
    ] {
        fs::write(path, value).with_context(|| format!("setting {path} (are you root?)"))?;
    }
    nft(&guard_ruleset())?;
    Ok(())
}

/// The guard: nothing is forwarded between the bridge and any other interface, in either
/// direction, and nothing from the bridge is masqueraded.
pub fn guard_ruleset() -> String {
    format!(
        "table inet {GUARD_TABLE} {{
  chain forward {{
    type filter hook forward priority -200; policy accept;
    iifname \"{BRIDGE}\" oifname != \"{BRIDGE}\" drop
    oifname \"{BRIDGE}\" iifname != \"{BRIDGE}\" drop
  }}
}}
"
    )
}

/// Removes what `up` made (the bridge, the route, the guard table). Missing pieces are fine.
pub fn down() -> Result<()> {
    let _ = Command::new("nft")
        .args(["delete", "table", "inet", GUARD_TABLE])
        .output();
    let _ = ip(&["route", "del", "unreachable", TEST_RANGE]);
    if link_exists(BRIDGE) {
        ip(&["link", "del", BRIDGE])?;
    }
    // Veth ends left by a runtime that died before CNI DEL: their peers lived in pod namespaces.
    for line in ip_out(&["-o", "link", "show", "type", "veth"])?.lines() {
        if line.contains(&format!("master {BRIDGE}"))
            && let Some(name) = line
                .split(':')
                .nth(1)
                .map(|s| s.trim().split('@').next().unwrap_or_default())
        {
            let _ = ip(&["link", "del", name]);
        }
    }
    Ok(())
}

pub fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn nft(ruleset: &str) -> Result<()> {
    use std::io::Write;
    let _ = Command::new("nft")
        .args(["delete", "table", "inet", GUARD_TABLE])
        .output();
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running nft (apt-get install nftables)")?;
    child
        .stdin
        .take()
        .context("nft stdin")?
        .write_all(ruleset.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("nft -f: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<()> {
    ip_out(args).map(|_| ())
}

fn ip_out(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (apt-get install iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
