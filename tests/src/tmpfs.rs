//! A tmpfs mounted for one test, which it can fill to the last byte (a full disk that a test
//! then frees again). Mounting needs privileges: [`Tmpfs::mount`] says `None` without them and
//! the test skips itself.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// A tmpfs mounted for the test; unmounted when dropped.
pub struct Tmpfs {
    _dir: tempfile::TempDir,
    /// Where it is mounted.
    pub path: PathBuf,
}

impl Tmpfs {
    /// A tmpfs of `size` (`mount -o size=`), or `None` when mounting is refused.
    pub fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::TempDir::new().expect("a temporary directory");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).expect("the mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .is_ok_and(|o| o.status.success());
        mounted.then_some(Self { _dir: dir, path })
    }

    /// Writes `name` until the file system is full.
    pub fn fill(&self, name: &str) {
        let mut file = std::fs::File::create(self.path.join(name)).expect("the filler file");
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        // Whatever is left is smaller than a block: take it byte by byte.
        while file.write_all(&[0]).is_ok() {}
        let _ = file.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}
