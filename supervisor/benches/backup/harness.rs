//! The benchmark's harness: running this binary as a measured child (its seconds, CPU, peak
//! RSS and reported lines), timing shell pipelines, and formatting figures.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use openclaw_testkit::seaweed::SeaweedFs;

use super::{
    Result,
    child::{ACCESS_KEY_ENV, Job, SECRET_KEY_ENV},
};

/// What a child reported, and how long it took from spawn to exit.
#[derive(Debug)]
pub struct ChildRun {
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub vmhwm_kib: u64,
    pub lines: Vec<(String, String)>,
}

impl ChildRun {
    pub fn number(&self, name: &str) -> Option<u64> {
        self.lines
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.parse().ok())
    }
}

pub fn check_files(run: &ChildRun, expected: u64, what: &str) -> Result<()> {
    match run.number("files") {
        Some(files) if files == expected => Ok(()),
        other => Err(format!(
            "the {what} reported {other:?} files, {expected} were generated"
        )),
    }
}

/// Runs this binary as `--child action` against `s3` on `dir` at zstd `level`, with `envs`.
pub fn child(
    s3: &SeaweedFs,
    action: &str,
    dir: &Path,
    level: i32,
    envs: &[(&str, String)],
) -> Result<ChildRun> {
    let job = Job {
        action: action.to_owned(),
        endpoint: s3.endpoint().to_owned(),
        bucket: s3.bucket().to_owned(),
        dir: dir.to_owned(),
        level,
    };
    let exe = std::env::current_exe().map_err(|e| format!("locating this benchmark: {e}"))?;
    let started = Instant::now();
    let output = Command::new(exe)
        .args(job.args())
        .env(ACCESS_KEY_ENV, s3.access_key())
        .env(SECRET_KEY_ENV, s3.secret_key())
        .envs(envs.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("starting the {action} child: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "the {action} child failed ({}): {stdout}",
            output.status
        ));
    }
    let lines: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    let mut run = ChildRun {
        seconds,
        cpu_seconds: 0.0,
        vmhwm_kib: 0,
        lines,
    };
    run.vmhwm_kib = run
        .number("vmhwm_kib")
        .ok_or_else(|| format!("the {action} child printed no vmhwm_kib: {stdout}"))?;
    run.cpu_seconds = run
        .lines
        .iter()
        .find(|(key, _)| key == "cpu_seconds")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0.0);
    Ok(run)
}

/// Runs `f` and returns its seconds.
pub fn timed(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    f()?;
    Ok(started.elapsed().as_secs_f64())
}

/// `bash -c 'set -o pipefail; <script>'`, failing on a non-zero exit.
pub fn shell(script: &str) -> Result<()> {
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {script}"))
        .status()
        .map_err(|e| format!("running bash: {e}"))?;
    if !status.success() {
        return Err(format!("`{script}` failed ({status})"));
    }
    Ok(())
}

/// A path quoted for bash.
pub fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}
