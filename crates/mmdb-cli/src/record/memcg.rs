//! The `--memcg-limit` cgroup: a cgroup v1 memory cgroup of the recorder's own, removed on every exit path.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// Where the cgroup v1 memory controller is mounted on these machines.
pub const MEMCG_ROOT: &str = "/sys/fs/cgroup/memory";

/// The memory cgroup `mmdb-<pid>`; dropped, it waits briefly for its tasks to go and removes the directory.
#[derive(Debug)]
pub struct Memcg {
    dir: PathBuf,
}

impl Memcg {
    /// Creates the cgroup `name` with `memory.limit_in_bytes` = `limit`.
    pub fn create(name: &str, limit: u64) -> anyhow::Result<Memcg> {
        let root = Path::new(MEMCG_ROOT);
        if !root.join("memory.limit_in_bytes").exists() {
            bail!("--memcg-limit needs the cgroup v1 memory controller at {MEMCG_ROOT}, which is not mounted");
        }
        let dir = root.join(name);
        fs::create_dir(&dir).with_context(|| format!("cannot create memory cgroup {}", dir.display()))?;
        let memcg = Memcg { dir };
        memcg.write("memory.limit_in_bytes", &limit.to_string())?;
        Ok(memcg)
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) -> anyhow::Result<()> {
        self.write("cgroup.procs", &pid.to_string())
    }

    fn write(&self, file: &str, value: &str) -> anyhow::Result<()> {
        let path = self.dir.join(file);
        fs::write(&path, value).with_context(|| format!("cannot write `{value}` to {}", path.display()))
    }

    /// Removes the cgroup, waiting up to two seconds for exiting tasks to leave it.
    pub fn remove(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match fs::remove_dir(&self.dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) if Instant::now() < deadline && e.raw_os_error() == Some(nix::libc::EBUSY) => {
                    sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove memory cgroup {}", self.dir.display()));
                }
            }
        }
    }
}

impl Drop for Memcg {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("mmdb record: {e:#}");
        }
    }
}

/// Parses a byte count with an optional binary suffix: `33554432`, `32M`, `32m`, `1G`, `512k`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, shift) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 10),
        Some((i, 'm' | 'M')) => (&s[..i], 20),
        Some((i, 'g' | 'G')) => (&s[..i], 30),
        _ => (s, 0),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{s}` is not a byte count (examples: 33554432, 32M, 1G)"))?;
    if n == 0 {
        return Err("the limit must be above 0".into());
    }
    n.checked_mul(1 << shift).ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("33554432"), Ok(33554432));
        assert_eq!(parse_bytes("32M"), Ok(32 << 20));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("12Q").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("99999999999G").is_err());
    }
}
