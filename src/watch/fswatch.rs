//! File-system notifications. They only say "something changed under ROOT";
//! the engine then re-scans (stat only) to decide what is new, changed or
//! gone. Native watching (inotify) where it works; notify's PollWatcher when
//! asked (`--poll`), when the native watcher cannot start, or when ROOT is on
//! a network or FUSE filesystem, where inotify never hears of files written
//! by other hosts.

use super::event::WatchMode;
use crate::runs::is_ignored;
use crossbeam_channel::Sender;
use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{PollWatcher, RecursiveMode, Watcher};
use std::path::Path;
use std::time::Duration;

/// Poll interval when sslwatch falls back to polling by itself.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);

/// What the notify callback tells the engine.
#[derive(Debug)]
pub enum FsSignal {
    Changed,
    /// The watcher reported a problem (e.g. inotify queue overflow): the
    /// engine re-scans and shows the message once.
    Trouble(String),
}

/// A running watcher; dropping it stops watching.
pub struct FsWatch {
    _watcher: Box<dyn Watcher + Send>,
    pub mode: WatchMode,
}

/// Start watching `root`: polling every `poll` when given, else natively with
/// fallbacks. Returns the watcher and the warnings of any fallback.
pub fn start(
    root: &Path,
    poll: Option<Duration>,
    tx: Sender<FsSignal>,
) -> Result<(FsWatch, Vec<String>), notify::Error> {
    let mut warnings = Vec::new();
    let reason = match (poll, network_fs(root)) {
        (Some(_), _) => Some("--poll".to_string()),
        (None, Some(fs)) => Some(format!(
            "ROOT is on {fs}, where files written by other hosts send no events"
        )),
        (None, None) => match native(root, tx.clone()) {
            Ok(w) => {
                return Ok((
                    FsWatch {
                        _watcher: w,
                        mode: WatchMode::Native,
                    },
                    warnings,
                ))
            }
            Err(e) => {
                let msg = format!("native file watcher failed ({e}); polling instead");
                warnings.push(msg);
                Some(format!("native watcher failed: {e}"))
            }
        },
    };
    let interval = poll.unwrap_or(DEFAULT_POLL);
    let w = polling(root, interval, tx)?;
    Ok((
        FsWatch {
            _watcher: w,
            mode: WatchMode::Poll {
                interval,
                reason: reason.unwrap_or_default(),
            },
        },
        warnings,
    ))
}

/// Switch to polling every `interval` (the native watcher failed at run time).
pub fn start_polling(
    root: &Path,
    interval: Duration,
    reason: String,
    tx: Sender<FsSignal>,
) -> notify::Result<FsWatch> {
    Ok(FsWatch {
        _watcher: polling(root, interval, tx)?,
        mode: WatchMode::Poll { interval, reason },
    })
}

fn handler(tx: Sender<FsSignal>) -> impl FnMut(notify::Result<notify::Event>) + Send + 'static {
    move |res: notify::Result<notify::Event>| {
        let signal = match res {
            Ok(ev) if relevant(&ev) => FsSignal::Changed,
            Ok(_) => return,
            Err(e) => FsSignal::Trouble(e.to_string()),
        };
        let _ = tx.send(signal);
    }
}

/// Our own reads open files too: only writes, creations, removals and
/// renames of names we do not ignore count.
fn relevant(ev: &notify::Event) -> bool {
    if let EventKind::Access(kind) = ev.kind {
        if kind != AccessKind::Close(AccessMode::Write) {
            return false;
        }
    }
    ev.paths.is_empty()
        || ev.paths.iter().any(|p| {
            p.file_name()
                .map(|n| !is_ignored(&n.to_string_lossy()))
                .unwrap_or(true)
        })
}

fn native(root: &Path, tx: Sender<FsSignal>) -> notify::Result<Box<dyn Watcher + Send>> {
    let mut w = notify::recommended_watcher(handler(tx))?;
    w.watch(root, RecursiveMode::Recursive)?;
    Ok(Box::new(w))
}

fn polling(
    root: &Path,
    interval: Duration,
    tx: Sender<FsSignal>,
) -> notify::Result<Box<dyn Watcher + Send>> {
    let config = notify::Config::default().with_poll_interval(interval);
    let mut w = PollWatcher::new(handler(tx), config)?;
    w.watch(root, RecursiveMode::Recursive)?;
    Ok(Box::new(w))
}

/// The name of the network or FUSE filesystem `path` is on, if it is one.
#[cfg(target_os = "linux")]
pub fn network_fs(path: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `buf` a writable statfs.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut buf) } != 0 {
        return None;
    }
    // f_type's width differs between libcs and architectures.
    #[allow(clippy::unnecessary_cast)]
    fs_name(buf.f_type as i64 as u32)
}

#[cfg(not(target_os = "linux"))]
pub fn network_fs(_path: &Path) -> Option<&'static str> {
    None
}

/// Filesystem magic numbers (linux/magic.h and the filesystems' sources).
pub fn fs_name(magic: u32) -> Option<&'static str> {
    Some(match magic {
        0x6969 => "NFS",
        0x517B => "SMB",
        0xFF53_4D42 => "CIFS",
        0xFE53_4D42 => "SMB2",
        0x6573_5546 => "a FUSE filesystem (sshfs, s3fs, ...)",
        0x0BD0_0BD0 => "Lustre",
        0x4750_4653 => "GPFS",
        0x00C3_6400 => "CephFS",
        0x5346_414F => "AFS",
        0x6B41_4653 => "AFS",
        0x0102_1997 => "9p",
        0x7461_636F => "OCFS2",
        0x0116_1970 => "GFS2",
        0x1983_0326 => "BeeGFS",
        0x2003_0528 => "OrangeFS",
        0x7375_7245 => "Coda",
        0x564C => "NCP",
        0xAAD7_AAEA => "PanFS",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_filesystems_are_recognised() {
        assert_eq!(fs_name(0x6969), Some("NFS"));
        assert!(fs_name(0xFF53_4D42).is_some());
        assert!(fs_name(0x6573_5546).unwrap().contains("FUSE"));
        assert_eq!(fs_name(0xEF53), None, "ext4 is local");
        assert_eq!(fs_name(0x0102_1994), None, "tmpfs is local");
    }

    #[test]
    fn own_reads_do_not_count_as_changes() {
        let open = notify::Event::new(EventKind::Access(AccessKind::Open(AccessMode::Any)))
            .add_path("/r/run/milestones/1.npy".into());
        assert!(!relevant(&open));
        let closed = notify::Event::new(EventKind::Access(AccessKind::Close(AccessMode::Write)))
            .add_path("/r/run/milestones/1.npy".into());
        assert!(relevant(&closed));
        let tmp = notify::Event::new(EventKind::Create(notify::event::CreateKind::File))
            .add_path("/r/run/milestones/.1.npy.tmp".into());
        assert!(!relevant(&tmp));
    }
}
