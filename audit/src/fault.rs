//! What an environment failure of the log's files or its index is, told apart by the OS error
//! it carries: a full disk is not the only way a write fails. A process out of file
//! descriptors (EMFILE, ENFILE) made sled fail too, and calling that "disk full" sent operators
//! to free space that was never short and hid the real cause (an exhausted descriptor table).

use std::fmt;

/// The cause of a failed write of the log's segments, checkpoint or sled index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// No space or quota left on the log's file system, or a file past the process's size
    /// limit (ENOSPC, EDQUOT, EFBIG).
    DiskFull,
    /// The process or the system ran out of file descriptors (EMFILE, ENFILE).
    Descriptors,
    /// Any other I/O error (EIO, EACCES, ...), or an index failure that carries no OS error.
    Io,
}

/// Linux's EMFILE: the process's descriptor table is full.
const EMFILE: i32 = 24;
/// Linux's ENFILE: the system's file table is full.
const ENFILE: i32 = 23;

impl Fault {
    /// The cause of an OS error.
    pub fn of_io(e: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        if let Some(EMFILE | ENFILE) = e.raw_os_error() {
            return Fault::Descriptors;
        }
        match e.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
                Fault::DiskFull
            }
            _ => Fault::Io,
        }
    }

    /// The cause of one of this crate's errors (`Io` when it carries no OS error).
    pub fn of(e: &crate::Error) -> Self {
        match e {
            crate::Error::Io { source, .. } => Self::of_io(source),
            crate::Error::Index(sled::Error::Io(io)) => Self::of_io(io),
            _ => Fault::Io,
        }
    }

    /// What to do about it, for the message that names it.
    pub fn remedy(self) -> &'static str {
        match self {
            Fault::DiskFull => "free space on the log's file system",
            Fault::Descriptors => {
                "the process ran out of file descriptors: close connections or raise LimitNOFILE"
            }
            Fault::Io => "check the disk and the log folder's permissions",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::DiskFull => "disk full",
            Fault::Descriptors => "out of file descriptors",
            Fault::Io => "I/O error",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;
    use std::io::{Error, ErrorKind};

    #[test]
    fn descriptors_are_not_a_full_disk() {
        assert_eq!(
            Fault::of_io(&Error::from_raw_os_error(24)),
            Fault::Descriptors
        );
        assert_eq!(
            Fault::of_io(&Error::from_raw_os_error(23)),
            Fault::Descriptors
        );
        assert_eq!(Fault::of_io(&Error::from_raw_os_error(28)), Fault::DiskFull);
        assert_eq!(
            Fault::of_io(&Error::from_raw_os_error(122)),
            Fault::DiskFull
        );
        assert_eq!(Fault::of_io(&Error::from_raw_os_error(27)), Fault::DiskFull);
        assert_eq!(Fault::of_io(&Error::from_raw_os_error(5)), Fault::Io);
        assert_eq!(Fault::of_io(&Error::from(ErrorKind::Other)), Fault::Io);
        // As sled reports them to the indexer.
        let emfile = crate::Error::Index(sled::Error::Io(Error::from_raw_os_error(24)));
        assert_eq!(Fault::of(&emfile), Fault::Descriptors);
        let enospc = crate::Error::Index(sled::Error::Io(Error::from_raw_os_error(28)));
        assert_eq!(Fault::of(&enospc), Fault::DiskFull);
        let corrupt = crate::Error::Index(sled::Error::Unsupported("x".into()));
        assert_eq!(Fault::of(&corrupt), Fault::Io);
        assert!(!Fault::Descriptors.to_string().contains("disk"));
        // The error's own message names the remedy for its cause.
        let emfile = crate::Error::io("open", "seg", Error::from_raw_os_error(24));
        assert!(!emfile.to_string().contains("disk"), "{emfile}");
        assert!(emfile.to_string().contains("descriptors"), "{emfile}");
        let enospc = crate::Error::io("write", "seg", Error::from_raw_os_error(28));
        assert!(enospc.to_string().contains("free space"), "{enospc}");
        assert!(Fault::Descriptors.remedy().contains("descriptors"));
    }
}
