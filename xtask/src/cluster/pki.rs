//! The control plane's certificates and tokens, made with openssl.

use std::{fs, path::Path, process::Command};

use anyhow::{Context, Result, bail};

/// Static bearer token of the local cluster admin (loopback only, throwaway).
pub const ADMIN_TOKEN: &str = "openclaw-local-admin";

pub fn generate(pki: &Path) -> Result<()> {
    fs::create_dir_all(pki)?;
    let ext = "subjectAltName=IP:127.0.0.1,IP:198.18.0.1,IP:198.19.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,\
DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n\
keyUsage=digitalSignature,keyEncipherment\n";
    fs::write(pki.join("ext.cnf"), ext)?;
    openssl(
        pki,
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=openclaw-local-ca",
    )?;
    openssl(
        pki,
        "req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver",
    )?;
    openssl(
        pki,
        "x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile ext.cnf",
    )?;
    // The real node: the kubelet's client (Node authorizer identity) and serving certificates,
    // and the API server's client certificate for the kubelet API (logs, exec, port-forward).
    signed(
        pki,
        "kubelet-client",
        "/O=system:nodes/CN=system:node:node-0",
        "clientAuth",
        "",
    )?;
    signed(
        pki,
        "kubelet",
        "/CN=node-0",
        "serverAuth",
        "subjectAltName=IP:198.18.0.1,DNS:node-0\n",
    )?;
    signed(
        pki,
        "apiserver-kubelet-client",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        "clientAuth",
        "",
    )?;
    openssl(pki, "genrsa -out sa.key 2048")?;
    openssl(pki, "rsa -in sa.key -pubout -out sa.pub")?;
    fs::write(
        pki.join("tokens.csv"),
        format!("{ADMIN_TOKEN},local-admin,uid-local-admin,\"system:masters\"\n"),
    )?;
    Ok(())
}

/// A key and a certificate `<name>.key`/`<name>.crt` signed by the local CA.
fn signed(pki: &Path, name: &str, subject: &str, usage: &str, san: &str) -> Result<()> {
    fs::write(
        pki.join(format!("{name}.cnf")),
        format!("{san}extendedKeyUsage={usage}\nkeyUsage=digitalSignature,keyEncipherment\n"),
    )?;
    openssl(
        pki,
        &format!("req -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr -subj {subject}"),
    )?;
    openssl(
        pki,
        &format!(
            "x509 -req -in {name}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out {name}.crt -days 3650 -extfile {name}.cnf"
        ),
    )
}

fn openssl(dir: &Path, args: &str) -> Result<()> {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .context("running openssl (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "openssl {args}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
