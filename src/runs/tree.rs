//! Looking at ROOT again and paying only for what changed (issue 14): on a
//! network filesystem every `stat` is a round trip felt by everyone, and a
//! tree of 5,000 runs x 50 milestones is 250,000 of them per full walk.
//!
//! A [`Tree`] remembers what the last look found, with the stamps of the
//! directories it listed, and offers three looks:
//!
//! - [`Look::Full`]: walk everything (the first look, a path-less watcher
//!   event or an overflow, and the periodic safety walk).
//! - [`Look::Poll`]: what a poll cycle does. It stats the directories
//!   between ROOT and the runs, the labels files in use, and each run's
//!   `milestones/` directory (its own directory one poll in
//!   [`RUN_DIR_EVERY`]): 1.25 stats per quiet run.
//!   Creating, removing or renaming an entry changes its directory's
//!   mtime, so only a run whose directories changed is listed and its
//!   files stat'ed again, and with it every run that changed in the last
//!   [`LIVE_FOR`] (a *live* run: its files are stat'ed on every poll,
//!   which notices files rewritten in place and appends to
//!   `scalars.jsonl`, neither of which touches a directory's mtime).
//! - [`Look::Dirty`]: what a native watcher's events name: only the runs
//!   holding those directories are looked at again; a directory outside
//!   every run (a run created or removed, a `labels.npy` above the runs)
//!   finds the runs again.
//!
//! Not noticed by a poll: a file rewritten in place (same name, the
//! directory untouched) in a run quiet for longer than [`LIVE_FOR`], and a
//! file added to an old step directory (`milestones/<step>/`) of such a run.
//! The periodic full walk finds both (the engine runs one every
//! `FULL_WALK_EVERY`). A directory whose mtime changed is listed once more
//! at the next look: a second change within the filesystem's timestamp
//! granularity of the first leaves the mtime as it was.

use super::layout::{
    self, dir_stamp, discover, home_dir, note_labels_above, scan_run, FileStamp, LabelsLookup,
    RunScan, Scan, ScanNote,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A run that changed this recently is *live*: every poll looks at all its
/// files, not only at its directories.
pub const LIVE_FOR: Duration = Duration::from_secs(300);

/// A quiet run's own directory (where `run.json`, `labels.npy` and
/// `scalars.jsonl` appear) is stat'ed on one poll in this many, staggered
/// over the runs; its `milestones/` on every poll.
pub const RUN_DIR_EVERY: u64 = 4;

/// Which look to take.
#[derive(Debug, Clone, Copy)]
pub enum Look<'a> {
    /// Walk everything.
    Full,
    /// A poll cycle: directory stamps, live runs.
    Poll,
    /// Only where these directories are (from watcher events).
    Dirty(&'a BTreeSet<PathBuf>),
}

/// What a look found changed since the last one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Everything was walked: `runs` is every run, and any file or run
    /// not in it is gone.
    pub full: bool,
    /// Runs whose picture changed (new ones included), each complete.
    pub runs: Vec<RunScan>,
    /// Runs that are no longer there.
    pub removed: Vec<String>,
    /// Milestone files that were in the last picture of a run in `runs` or
    /// `removed` and are not any more (empty when `full`).
    pub gone: Vec<PathBuf>,
    /// What the look skipped (directories it could not list, ...).
    pub notes: Vec<ScanNote>,
}

impl From<Scan> for Delta {
    /// A full walk's result as a look's.
    fn from(scan: Scan) -> Delta {
        Delta {
            full: true,
            runs: scan.runs,
            notes: scan.notes,
            ..Delta::default()
        }
    }
}

impl Delta {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.full && self.runs.is_empty() && self.removed.is_empty() && self.gone.is_empty()
    }
}

struct RunEntry {
    dir: PathBuf,
    /// `dir/milestones`.
    milestones: PathBuf,
    /// The run directory's and its `milestones/`'s stamps before their
    /// last listing.
    dir_stamp: Option<FileStamp>,
    milestones_stamp: Option<FileStamp>,
    /// Live until then.
    live_until: Option<Instant>,
    last: RunScan,
}

/// What the last look at ROOT found (see the module comment).
pub struct Tree {
    root: PathBuf,
    home: Option<PathBuf>,
    /// ROOT and the directories between it and the runs, stamped before
    /// they were listed.
    skeleton: Vec<(PathBuf, Option<FileStamp>)>,
    /// Find the runs again at the next poll even if nothing changed: the
    /// last one found a change, which a second change in the same
    /// timestamp tick would not show.
    confirm: bool,
    lookup: LabelsLookup,
    runs: BTreeMap<String, RunEntry>,
    /// Run directories, for the run a changed path belongs to.
    run_dirs: HashMap<PathBuf, String>,
    /// Polls so far (which runs' own directories this one stats).
    polls: u64,
}

impl Tree {
    /// Nothing seen yet: the first look should be [`Look::Full`].
    pub fn new(root: &Path) -> Tree {
        let home = home_dir();
        Tree {
            root: root.to_path_buf(),
            lookup: LabelsLookup::new(root, home.as_deref()),
            home,
            skeleton: Vec::new(),
            confirm: false,
            runs: BTreeMap::new(),
            run_dirs: HashMap::new(),
            polls: 0,
        }
    }

    /// Take a look. Errors only when ROOT itself cannot be looked at (then
    /// the last picture is kept, except that a missing ROOT has no runs).
    pub fn look(&mut self, how: Look, now: Instant) -> std::io::Result<Delta> {
        match self.try_look(how, now) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Seen from scratch when it is back.
                self.runs.clear();
                self.run_dirs.clear();
                self.skeleton.clear();
                Err(e)
            }
            other => other,
        }
    }

    fn try_look(&mut self, how: Look, now: Instant) -> std::io::Result<Delta> {
        let mut delta = match how {
            _ if self.skeleton.is_empty() => self.full(now),
            Look::Full => self.full(now),
            Look::Poll => self.poll(now),
            Look::Dirty(dirs) => self.dirty(dirs, now),
        }?;
        // Runs are announced in name order (the TUI's colours follow it).
        delta.runs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(delta)
    }

    fn full(&mut self, now: Instant) -> std::io::Result<Delta> {
        layout::list(&self.root)?;
        let mut delta = Delta {
            full: true,
            ..Delta::default()
        };
        self.lookup = LabelsLookup::new(&self.root, self.home.as_deref());
        let found = self.find_runs(&mut delta);
        let mut said_above = false;
        for (name, dir) in found {
            let old = self.runs.remove(&name);
            let entry = self.scan_one(&name, dir, &mut said_above, &mut delta.notes);
            let entry = carry_liveness(entry, old, now);
            delta.runs.push(entry.last.clone());
            self.insert(name, entry);
        }
        // `find_runs` dropped the runs it did not find. The next poll
        // lists the skeleton once more (see `confirm`).
        self.confirm = true;
        Ok(delta)
    }

    fn poll(&mut self, now: Instant) -> std::io::Result<Delta> {
        let mut delta = Delta::default();
        let changed = self.skeleton_changed()? || self.labels_changed();
        if changed || self.confirm {
            self.confirm = changed;
            return Ok(self.rediscover(true, &BTreeSet::new(), now, delta));
        }
        self.polls += 1;
        let polls = self.polls;
        let due: Vec<String> = self
            .runs
            .iter()
            .enumerate()
            .filter(|(i, (_, e))| e.wants_look(now, polls + *i as u64))
            .map(|(_, (n, _))| n.clone())
            .collect();
        let mut said_above = false;
        for name in due {
            self.rescan(&name, now, &mut said_above, &mut delta);
        }
        Ok(delta)
    }

    fn dirty(&mut self, dirs: &BTreeSet<PathBuf>, now: Instant) -> std::io::Result<Delta> {
        layout::stat(&self.root)?;
        let mut runs = BTreeSet::new();
        let mut outside = false;
        for d in dirs {
            match self.run_of(d) {
                Some(name) => {
                    runs.insert(name);
                }
                None => outside = true,
            }
        }
        let mut delta = Delta::default();
        if outside {
            return Ok(self.rediscover(false, &runs, now, delta));
        }
        let mut said_above = false;
        for name in runs {
            self.rescan(&name, now, &mut said_above, &mut delta);
        }
        Ok(delta)
    }

    /// The run whose directory holds `dir`, if any.
    fn run_of(&self, dir: &Path) -> Option<String> {
        dir.ancestors()
            .take_while(|a| a.starts_with(&self.root))
            .find_map(|a| self.run_dirs.get(a).cloned())
    }

    /// Whether a directory between ROOT and the runs changed (stats them
    /// until one did). ROOT missing is an error.
    fn skeleton_changed(&self) -> std::io::Result<bool> {
        let meta = layout::stat(&self.root)?;
        let mut stamps = self.skeleton.iter();
        if let Some((_, root_stamp)) = stamps.next() {
            if *root_stamp != Some(FileStamp::of(&meta)) {
                return Ok(true);
            }
        }
        Ok(stamps.any(|(dir, stamp)| dir_stamp(dir) != *stamp))
    }

    /// Whether a labels file in use changed in place (one stat each).
    fn labels_changed(&self) -> bool {
        let in_use: BTreeMap<&Path, FileStamp> = self
            .runs
            .values()
            .filter_map(|r| r.last.labels.as_ref())
            .map(|(p, s)| (p.as_path(), *s))
            .collect();
        in_use
            .into_iter()
            .any(|(p, s)| FileStamp::read(p) != Some(s))
    }

    /// Find the runs again (the directories above them changed). Runs not
    /// found are removed, new ones scanned, those in `rescan` or whose
    /// labels changed scanned again; the rest get a poll's look
    /// (`check_rest`) or none (a native event said where to look).
    fn rediscover(
        &mut self,
        check_rest: bool,
        rescan: &BTreeSet<String>,
        now: Instant,
        mut delta: Delta,
    ) -> Delta {
        self.lookup = LabelsLookup::new(&self.root, self.home.as_deref());
        let found = self.find_runs(&mut delta);
        let mut said_above = false;
        for (name, dir) in found {
            let labels_moved = match self.runs.get(&name) {
                None => true,
                Some(e) => e.dir != dir || self.lookup.for_run(&dir) != e.last.labels,
            };
            if labels_moved || rescan.contains(&name) {
                let old = self.runs.remove(&name);
                let entry = self.scan_one(&name, dir, &mut said_above, &mut delta.notes);
                self.record(name, entry, old, now, &mut delta);
            } else if check_rest {
                self.check_run(&name, now, &mut said_above, &mut delta);
            }
        }
        delta
    }

    /// List ROOT's skeleton again; drop (into `delta`) the runs gone.
    fn find_runs(&mut self, delta: &mut Delta) -> Vec<(String, PathBuf)> {
        let mut scan = Scan::default();
        let found = discover(&self.root, &mut scan);
        delta.notes.append(&mut scan.notes);
        self.skeleton = found.skeleton;
        let names: HashSet<&str> = found.runs.iter().map(|(n, _)| n.as_str()).collect();
        let gone: Vec<String> = self
            .runs
            .keys()
            .filter(|n| !names.contains(n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            self.remove(&name, delta);
        }
        found.runs
    }

    fn remove(&mut self, name: &str, delta: &mut Delta) {
        if let Some(e) = self.runs.remove(name) {
            self.run_dirs.remove(&e.dir);
            if !delta.full {
                delta.gone.extend(e.last.files.into_iter().map(|f| f.path));
            }
            delta.removed.push(name.to_string());
        }
    }

    /// A poll's look at one run: its directories, or everything when it
    /// is live or they changed.
    fn check_run(&mut self, name: &str, now: Instant, said: &mut bool, delta: &mut Delta) {
        let Some(e) = self.runs.get(name) else {
            return;
        };
        // Found again after a change above it: both directories.
        if e.wants_look(now, 0) {
            self.rescan(name, now, said, delta);
        }
    }

    /// List one known run again.
    fn rescan(&mut self, name: &str, now: Instant, said: &mut bool, delta: &mut Delta) {
        let Some(old) = self.runs.remove(name) else {
            return;
        };
        let entry = self.scan_one(name, old.dir.clone(), said, &mut delta.notes);
        if entry.milestones_stamp.is_none() {
            // No `milestones/` any more: not a run. Runs may be below it
            // now, or the directory is gone: find the runs again next time.
            self.runs.insert(name.to_string(), old);
            self.remove(name, delta);
            self.confirm = true;
            return;
        }
        self.record(name.to_string(), entry, Some(old), now, delta);
    }

    /// Keep `entry` (which replaces `old`); say in `delta` what changed.
    fn record(
        &mut self,
        name: String,
        mut entry: RunEntry,
        old: Option<RunEntry>,
        now: Instant,
        delta: &mut Delta,
    ) {
        let busy = match &old {
            None => true,
            Some(o) => {
                o.last != entry.last
                    || o.dir_stamp != entry.dir_stamp
                    || o.milestones_stamp != entry.milestones_stamp
            }
        };
        if let Some(o) = &old {
            if o.last != entry.last {
                let now_there: HashSet<&Path> =
                    entry.last.files.iter().map(|f| f.path.as_path()).collect();
                delta.gone.extend(
                    o.last
                        .files
                        .iter()
                        .filter(|f| !now_there.contains(f.path.as_path()))
                        .map(|f| f.path.clone()),
                );
            }
        }
        if old.as_ref().is_none_or(|o| o.last != entry.last) {
            delta.runs.push(entry.last.clone());
        }
        entry.live_until = if busy {
            Some(now + LIVE_FOR)
        } else {
            old.and_then(|o| o.live_until)
        };
        self.insert(name, entry);
    }

    fn insert(&mut self, name: String, entry: RunEntry) {
        self.run_dirs.insert(entry.dir.clone(), name.clone());
        self.runs.insert(name, entry);
    }

    /// Stat a run's directories, then list it.
    fn scan_one(
        &mut self,
        name: &str,
        dir: PathBuf,
        said_above: &mut bool,
        notes: &mut Vec<ScanNote>,
    ) -> RunEntry {
        let dir_st = dir_stamp(&dir);
        let milestones = dir.join("milestones");
        let milestones_st = dir_stamp(&milestones);
        self.lookup.forget(&dir);
        let labels = self.lookup.for_run(&dir);
        let mut scan = Scan::default();
        note_labels_above(&self.root, &labels, said_above, &mut scan);
        let last = scan_run(name.to_string(), dir.clone(), labels, &mut scan);
        notes.append(&mut scan.notes);
        RunEntry {
            dir,
            milestones,
            dir_stamp: dir_st,
            milestones_stamp: milestones_st,
            live_until: None,
            last,
        }
    }

    /// How many runs are live at `now` (for the benchmark and tests).
    pub fn live_runs(&self, now: Instant) -> usize {
        self.runs
            .values()
            .filter(|r| r.live_until.is_some_and(|t| now < t))
            .count()
    }
}

impl RunEntry {
    /// Whether a poll lists this run again: it is live, or its
    /// `milestones/` changed, or (on the polls where `turn` is a multiple
    /// of [`RUN_DIR_EVERY`]) its own directory did.
    fn wants_look(&self, now: Instant, turn: u64) -> bool {
        self.live_until.is_some_and(|t| now < t)
            || dir_stamp(&self.milestones) != self.milestones_stamp
            || (turn.is_multiple_of(RUN_DIR_EVERY) && dir_stamp(&self.dir) != self.dir_stamp)
    }
}

/// A full walk keeps a run live that was, and makes live one that changed.
fn carry_liveness(mut entry: RunEntry, old: Option<RunEntry>, now: Instant) -> RunEntry {
    entry.live_until = match old {
        None => None,
        Some(o) if o.last != entry.last => Some(now + LIVE_FOR),
        Some(o) => o.live_until,
    };
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::layout::{fs_calls, FsCalls};
    use std::fs;

    /// `runs` runs of `milestones` `<step>.npy` files each, two levels
    /// below ROOT (`g<i % 4>/r<i>`).
    fn tree_of(runs: usize, milestones: usize) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for r in 0..runs {
            let m = run_dir(t.path(), r).join("milestones");
            fs::create_dir_all(&m).unwrap();
            for s in 0..milestones {
                fs::write(m.join(format!("{s}.npy")), b"x").unwrap();
            }
        }
        t
    }

    fn run_dir(root: &Path, r: usize) -> PathBuf {
        root.join(format!("g{}/r{r}", r % 4))
    }

    fn name(r: usize) -> String {
        format!("g{}/r{r}", r % 4)
    }

    /// The look and what it cost.
    fn look(tree: &mut Tree, how: Look, now: Instant) -> (Delta, FsCalls) {
        let before = fs_calls();
        let d = tree.look(how, now).unwrap();
        (d, fs_calls().since(before))
    }

    /// Directory mtimes move in timestamp ticks (milliseconds): wait one
    /// out so that a change shows.
    fn tick() {
        std::thread::sleep(Duration::from_millis(30));
    }

    fn names(d: &Delta) -> Vec<&str> {
        d.runs.iter().map(|r| r.name.as_str()).collect()
    }

    /// A tree that has been looked at in full and confirmed: the next
    /// poll is an idle one.
    fn settled(root: &Path, t0: Instant) -> Tree {
        let mut tree = Tree::new(root);
        let (full, _) = look(&mut tree, Look::Full, t0);
        assert!(full.full);
        // The confirming look after a full walk finds the runs again.
        let (d, _) = look(&mut tree, Look::Poll, t0);
        assert!(d.is_empty(), "{d:?}");
        tree
    }

    /// What an idle poll stats: ROOT, g0..g3, every run's `milestones/`,
    /// and the own directories of one run in four.
    fn idle_stats(runs: usize) -> std::ops::RangeInclusive<u64> {
        let base = 1 + 4 + runs as u64;
        let quarter = runs as u64 / RUN_DIR_EVERY;
        base + quarter..=base + quarter + 1
    }

    #[test]
    fn an_idle_poll_stats_a_quiet_runs_milestones_and_a_quarter_of_run_dirs() {
        let (runs, milestones) = (200, 20);
        let t = tree_of(runs, milestones);
        let t0 = Instant::now();
        let mut tree = Tree::new(t.path());
        let (_, full) = look(&mut tree, Look::Full, t0);
        assert!(
            full.stats as usize >= runs * milestones,
            "a full walk stats every file: {full:?}"
        );
        look(&mut tree, Look::Poll, t0);
        for _ in 0..3 {
            let (d, cost) = look(&mut tree, Look::Poll, t0);
            assert!(d.is_empty(), "{d:?}");
            assert_eq!(cost.lists, 0);
            assert!(idle_stats(runs).contains(&cost.stats), "{cost:?}");
        }
    }

    #[test]
    fn a_quiet_runs_new_run_json_is_found_within_run_dir_every_polls() {
        let t = tree_of(8, 2);
        let t0 = Instant::now();
        let mut tree = settled(t.path(), t0);
        tick();
        fs::write(run_dir(t.path(), 5).join("run.json"), b"{}").unwrap();
        let found = (0..RUN_DIR_EVERY)
            .map(|_| look(&mut tree, Look::Poll, t0).0)
            .find(|d| !d.is_empty())
            .expect("found within RUN_DIR_EVERY polls");
        assert_eq!(names(&found), [name(5)]);
        assert!(found.runs[0].run_json.is_some());
    }

    #[test]
    fn a_changed_run_is_the_only_one_listed_and_stays_live_for_a_while() {
        let (runs, milestones) = (50, 20);
        let t = tree_of(runs, milestones);
        let t0 = Instant::now();
        let mut tree = settled(t.path(), t0);
        tick();
        let m = run_dir(t.path(), 7).join("milestones");
        fs::write(m.join("20.npy"), b"x").unwrap();
        let (d, cost) = look(&mut tree, Look::Poll, t0);
        assert_eq!(names(&d), [name(7)]);
        assert_eq!(d.runs[0].files.len(), milestones + 1);
        assert_eq!(cost.lists, 1, "only run 7's milestones/ is listed");
        let idle = idle_stats(runs);
        assert!(
            cost.stats <= idle.end() + milestones as u64 + 10,
            "{cost:?}"
        );
        assert_eq!(tree.live_runs(t0), 1);

        // Live: an in-place rewrite (no directory mtime moves) is found.
        tick();
        fs::write(m.join("3.npy"), b"xy").unwrap();
        let (d, cost) = look(&mut tree, Look::Poll, t0 + Duration::from_secs(10));
        assert_eq!(names(&d), [name(7)]);
        assert!(d.gone.is_empty());
        let f3 = d.runs[0].files.iter().find(|f| f.step == 3).unwrap();
        assert_eq!(f3.stamp.size, 2);
        assert!(
            cost.stats > *idle.end() + milestones as u64 / 2,
            "the live run's files are stat'ed: {cost:?}"
        );

        // Quiet for LIVE_FOR: back to an idle poll's cost.
        let later = t0 + Duration::from_secs(10) + LIVE_FOR + Duration::from_secs(1);
        let (d, cost) = look(&mut tree, Look::Poll, later);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(tree.live_runs(later), 0);
        assert_eq!(cost.lists, 0);
        assert!(idle.contains(&cost.stats), "{cost:?}");
    }

    #[test]
    fn a_poll_finds_new_removed_and_renamed_files_and_runs() {
        let t = tree_of(6, 3);
        let t0 = Instant::now();
        let mut tree = settled(t.path(), t0);
        let r1 = run_dir(t.path(), 1).join("milestones");
        tick();
        fs::remove_file(r1.join("0.npy")).unwrap();
        fs::rename(r1.join("1.npy"), r1.join("11.npy")).unwrap();
        fs::create_dir_all(run_dir(t.path(), 9).join("milestones/epoch_5")).unwrap();
        fs::write(run_dir(t.path(), 9).join("milestones/epoch_5/h.npy"), b"x").unwrap();
        fs::remove_dir_all(run_dir(t.path(), 2)).unwrap();
        fs::write(run_dir(t.path(), 3).join("scalars.jsonl"), b"{}\n").unwrap();
        let (d, _) = look(&mut tree, Look::Poll, t0);
        // In name order: g1/r1, g1/r9, g3/r3.
        assert_eq!(names(&d), [name(1), name(9), name(3)]);
        assert_eq!(d.removed, [name(2)]);
        let mut gone: Vec<_> = d
            .gone
            .iter()
            .map(|p| p.strip_prefix(t.path()).unwrap().to_path_buf())
            .collect();
        gone.sort();
        let r1_rel = Path::new("g1/r1/milestones");
        let r2_rel = Path::new("g2/r2/milestones");
        assert_eq!(
            gone,
            [
                r1_rel.join("0.npy"),
                r1_rel.join("1.npy"),
                r2_rel.join("0.npy"),
                r2_rel.join("1.npy"),
                r2_rel.join("2.npy")
            ]
        );
        let steps: Vec<u64> = d.runs[0].files.iter().map(|f| f.step).collect();
        assert_eq!(steps, [2, 11]);
        assert_eq!(d.runs[1].files[0].step, 5);
        assert!(d.runs[2].scalars.is_some(), "scalars.jsonl appeared");

        // A live run's scalars.jsonl appended to: found (its directory is
        // untouched).
        tick();
        fs::write(run_dir(t.path(), 3).join("scalars.jsonl"), b"{}\n{}\n").unwrap();
        let (d, _) = look(&mut tree, Look::Poll, t0);
        assert_eq!(names(&d), [name(3)]);
        assert_eq!(d.runs[0].scalars.unwrap().size, 6);
    }

    #[test]
    fn a_quiet_runs_in_place_rewrite_waits_for_the_full_walk() {
        let t = tree_of(4, 3);
        let t0 = Instant::now();
        let mut tree = settled(t.path(), t0);
        tick();
        let f = run_dir(t.path(), 0).join("milestones/1.npy");
        fs::write(&f, b"rewritten").unwrap();
        let (d, _) = look(&mut tree, Look::Poll, t0);
        assert!(d.is_empty(), "a poll does not see it: {d:?}");
        let (d, _) = look(&mut tree, Look::Full, t0);
        let run = d.runs.iter().find(|r| r.name == name(0)).unwrap();
        let found = run.files.iter().find(|x| x.path == f).unwrap();
        assert_eq!(found.stamp.size, 9, "the full walk does");
        assert_eq!(tree.live_runs(t0), 1, "and the run is live again");
    }

    #[test]
    fn labels_rewritten_in_place_are_found_by_a_poll() {
        let t = tree_of(3, 2);
        let labels = t.path().join("labels.npy");
        fs::write(&labels, b"1").unwrap();
        let t0 = Instant::now();
        let mut tree = settled(t.path(), t0);
        tick();
        fs::write(&labels, b"12").unwrap();
        let (d, _) = look(&mut tree, Look::Poll, t0);
        assert_eq!(names(&d), [name(0), name(1), name(2)]);
        assert!(d
            .runs
            .iter()
            .all(|r| r.labels.as_ref().unwrap().1.size == 2));
    }

    #[test]
    fn events_look_only_at_the_runs_they_name() {
        let (runs, milestones) = (40, 20);
        let t = tree_of(runs, milestones);
        let t0 = Instant::now();
        let mut tree = settled(t.path(), t0);
        let m = run_dir(t.path(), 5).join("milestones");
        fs::write(m.join("7.npy"), b"new").unwrap();
        let dirs = BTreeSet::from([m.clone()]);
        let (d, cost) = look(&mut tree, Look::Dirty(&dirs), t0);
        assert_eq!(names(&d), [name(5)]);
        assert_eq!(cost.lists, 1);
        assert!(cost.stats < 2 * milestones as u64, "{cost:?}");

        // A directory outside every run: the runs are found again.
        let new_run = t.path().join("g0/fresh/milestones");
        fs::create_dir_all(&new_run).unwrap();
        fs::write(new_run.join("1.npy"), b"x").unwrap();
        let dirs = BTreeSet::from([t.path().join("g0")]);
        let (d, cost) = look(&mut tree, Look::Dirty(&dirs), t0);
        assert_eq!(names(&d), ["g0/fresh"]);
        assert!(
            cost.stats < (runs * milestones) as u64 / 2,
            "no run's files are stat'ed but the new one's: {cost:?}"
        );
    }

    #[test]
    fn a_missing_root_is_an_error_and_its_return_a_full_look() {
        let t = tree_of(2, 1);
        let root = t.path().join("g0");
        let t0 = Instant::now();
        let mut tree = Tree::new(&root);
        tree.look(Look::Full, t0).unwrap();
        fs::rename(&root, t.path().join("away")).unwrap();
        let err = tree.look(Look::Poll, t0).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        fs::rename(t.path().join("away"), &root).unwrap();
        let d = tree.look(Look::Poll, t0).unwrap();
        assert!(d.full);
        assert_eq!(names(&d), ["r0"]);
    }
}
