//! Runs under a watched root: the on-disk layout ([`layout`]), a run's side
//! files ([`meta`]) and the per-run summary ([`analysis`]).

pub mod analysis;
pub mod layout;
pub mod meta;
pub mod tree;

pub use meta::{RunMeta, ScalarPoint};

pub use layout::{
    find_runs, fs_calls, is_ignored, parse_step, scan_root, FileStamp, FsCalls, MilestoneFile,
    MilestoneFormat, RunScan, Scan, ScanNote,
};
