//! File-system notifications. They only say "something changed under ROOT"
//! (and where, when the event names paths); the engine then looks again
//! (stat only) to decide what is new, changed or gone. Native watching
//! (inotify) where it works; polling when asked (`--poll`), when the native
//! watcher cannot start, or when ROOT is on a network or FUSE filesystem,
//! where inotify never hears of files written by other hosts.
//!
//! Polling is the engine's own timer and incremental look
//! (`runs::tree`): one walk per cycle, paying for directories that
//! changed. notify's PollWatcher, which walks and stats the whole tree
//! every interval and then makes the engine walk it again, is only used
//! when the engine is told to re-scan in full (`EngineConfig::full_rescan`,
//! the behaviour before issue 14, kept for comparison).

use super::event::WatchMode;
use crate::runs::is_ignored;
use crossbeam_channel::Sender;
use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{PollWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Poll interval when sslwatch falls back to polling by itself.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);

/// What the notify callback tells the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum FsSignal {
    /// Something changed at these paths (the event's names sslwatch does
    /// not ignore); empty when the event named none: anywhere under ROOT.
    Changed(Vec<PathBuf>),
    /// These files were renamed into place (sent after the `Changed` of
    /// the same event): their writer finished them under another name, so
    /// they need no settle interval.
    Arrived(Vec<PathBuf>),
    /// The watcher reported a problem (e.g. inotify queue overflow): the
    /// engine re-scans and shows the message once.
    Trouble(String),
}

/// A running watcher; dropping it stops watching. In poll mode without
/// notify's PollWatcher there is nothing running: the engine polls.
pub struct FsWatch {
    _watcher: Option<Box<dyn Watcher + Send>>,
    pub mode: WatchMode,
}

/// Start watching `root`: polling every `poll` when given, else natively with
/// fallbacks. Returns the watcher and the warnings of any fallback. When
/// polling, `engine_polls` says the engine looks by itself (no notify
/// PollWatcher is started).
pub fn start(
    root: &Path,
    poll: Option<Duration>,
    tx: Sender<FsSignal>,
    engine_polls: bool,
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
                        _watcher: Some(w),
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
    let w = polling(root, interval, tx, engine_polls)?;
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
    engine_polls: bool,
) -> notify::Result<FsWatch> {
    Ok(FsWatch {
        _watcher: polling(root, interval, tx, engine_polls)?,
        mode: WatchMode::Poll { interval, reason },
    })
}

fn handler(tx: Sender<FsSignal>) -> impl FnMut(notify::Result<notify::Event>) + Send + 'static {
    move |res: notify::Result<notify::Event>| {
        let signal = match res {
            Ok(ev) if relevant(&ev) => {
                let changed = changed_paths(&ev);
                let _ = tx.send(FsSignal::Changed(changed));
                match renamed_to(&ev) {
                    Some(to) => FsSignal::Arrived(vec![to]),
                    None => return,
                }
            }
            Ok(_) => return,
            Err(e) => FsSignal::Trouble(e.to_string()),
        };
        let _ = tx.send(signal);
    }
}

/// Where a rename put a file we do not ignore (`mv tmp final`,
/// `os.replace`): the event's last path.
fn renamed_to(ev: &notify::Event) -> Option<PathBuf> {
    use notify::event::{ModifyKind, RenameMode};
    match ev.kind {
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => {
            let to = ev.paths.last()?;
            let name = to.file_name()?.to_string_lossy();
            (!is_ignored(&name)).then(|| to.clone())
        }
        _ => None,
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

/// The paths of a relevant event that are not ignored names.
fn changed_paths(ev: &notify::Event) -> Vec<PathBuf> {
    ev.paths
        .iter()
        .filter(|p| {
            p.file_name()
                .map(|n| !is_ignored(&n.to_string_lossy()))
                .unwrap_or(true)
        })
        .cloned()
        .collect()
}

/// Where things changed since the last re-scan, from the watcher's signals:
/// the directories whose listing or files changed, or everywhere (a signal
/// without paths, watcher trouble). The engine looks again only at the runs
/// holding these directories (`runs::tree::Look::Dirty`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Dirty {
    /// Nothing since the last re-scan.
    #[default]
    Clean,
    /// Only in these directories. A directory created among them may hold
    /// files no event named (created before its watch was added), so a
    /// limited re-scan must list a new directory's whole subtree.
    Dirs(BTreeSet<PathBuf>),
    /// Anywhere under ROOT.
    All,
}

impl Dirty {
    /// Add what `signal` says.
    pub fn add(&mut self, signal: &FsSignal) {
        let paths = match signal {
            // Its `Changed` said where.
            FsSignal::Arrived(_) => return,
            FsSignal::Changed(paths) if !paths.is_empty() => paths,
            _ => {
                *self = Dirty::All;
                return;
            }
        };
        if *self == Dirty::Clean {
            *self = Dirty::Dirs(BTreeSet::new());
        }
        let Dirty::Dirs(dirs) = self else {
            return; // already anywhere
        };
        for p in paths {
            // The directory whose listing (a file created, removed or
            // renamed) or whose file (written) changed.
            match p.parent() {
                Some(parent) => dirs.insert(parent.to_path_buf()),
                None => dirs.insert(p.clone()),
            };
        }
    }

    /// What was recorded; `Clean` from now on (a re-scan has started).
    pub fn take(&mut self) -> Dirty {
        std::mem::take(self)
    }
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
    engine_polls: bool,
) -> notify::Result<Option<Box<dyn Watcher + Send>>> {
    if engine_polls {
        return Ok(None);
    }
    let config = notify::Config::default().with_poll_interval(interval);
    let mut w = PollWatcher::new(handler(tx), config)?;
    w.watch(root, RecursiveMode::Recursive)?;
    Ok(Some(Box::new(w)))
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

    #[test]
    fn signals_carry_the_paths_that_changed_but_not_ignored_names() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut h = handler(tx);
        let rename = notify::Event::new(EventKind::Modify(notify::event::ModifyKind::Name(
            notify::event::RenameMode::Both,
        )))
        .add_path("/r/run/milestones/.20.npz.tmp".into())
        .add_path("/r/run/milestones/20.npz".into());
        h(Ok(rename));
        h(Ok(notify::Event::new(EventKind::Any)));
        h(Err(notify::Error::generic("queue overflow")));
        let got: Vec<FsSignal> = rx.try_iter().collect();
        assert_eq!(
            got,
            [
                FsSignal::Changed(vec!["/r/run/milestones/20.npz".into()]),
                FsSignal::Arrived(vec!["/r/run/milestones/20.npz".into()]),
                FsSignal::Changed(vec![]),
                FsSignal::Trouble("queue overflow".into()),
            ]
        );
    }

    #[test]
    fn dirty_directories_add_up_until_a_signal_says_anywhere() {
        let mut d = Dirty::default();
        let changed = |ps: &[&str]| FsSignal::Changed(ps.iter().map(PathBuf::from).collect());
        d.add(&changed(&[
            "/r/a/milestones/1.npy",
            "/r/a/milestones/2.npy",
        ]));
        d.add(&changed(&[
            "/r/b/milestones/epoch_3/h.npy",
            "/r/a/scalars.jsonl",
        ]));
        let dirs = |ps: &[&str]| Dirty::Dirs(ps.iter().map(PathBuf::from).collect());
        assert_eq!(
            d,
            dirs(&["/r/a", "/r/a/milestones", "/r/b/milestones/epoch_3"])
        );
        assert_eq!(
            d.take(),
            dirs(&["/r/a", "/r/a/milestones", "/r/b/milestones/epoch_3"])
        );
        assert_eq!(d, Dirty::Clean, "a re-scan starts clean");
        d.add(&changed(&["/r/a/milestones/1.npy"]));
        d.add(&FsSignal::Arrived(vec!["/r/a/milestones/1.npy".into()]));
        assert_eq!(
            d,
            dirs(&["/r/a/milestones"]),
            "an arrival adds nothing to its Changed"
        );
        d.add(&changed(&[]));
        d.add(&changed(&["/r/c/milestones/1.npy"]));
        assert_eq!(d.take(), Dirty::All, "a path-less signal: anywhere");
        d.add(&FsSignal::Trouble("overflow".into()));
        assert_eq!(d.take(), Dirty::All, "trouble may have lost events");
    }
}
