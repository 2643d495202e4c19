//! The control plane's certificates and tokens, made with openssl.

use std::{fs, path::Path, process::Command};

use anyhow::{Context, Result, bail};

/// Static bearer token of the local cluster admin (loopback only, throwaway).
pub const ADMIN_TOKEN: &str = "openclaw-local-admin";

pub fn generate(pki: &Path) -> Result<()> {
    fs::create_dir_all(pki)?;
    let ext = "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,\
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
    openssl(pki, "genrsa -out sa.key 2048")?;
    openssl(pki, "rsa -in sa.key -pubout -out sa.pub")?;
    fs::write(
        pki.join("tokens.csv"),
        format!("{ADMIN_TOKEN},local-admin,uid-local-admin,\"system:masters\"\n"),
    )?;
    Ok(())
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
