//! Keep a long-running sslwatch light on a busy training box: the memory a
//! milestone needed goes back to the operating system once it is done.
//!
//! By default glibc gives every thread that allocates its own arena, and a
//! thread arena only shrinks from its top, so the tens of MiB a milestone
//! needs (centred copies, standardised probe features, neighbour tables)
//! mostly stay resident after they are freed, where `malloc_trim` cannot
//! reach them. With one arena (the metric threads allocate little in the hot
//! loops, so they hardly contend for it) and a trim whenever the engine goes
//! idle, freed memory goes back. Measured with `report --follow` on two
//! 10,000 x 512 milestones: idle afterwards it held 17-73 MiB (peak 110 MiB)
//! with glibc's defaults, 19-31 MiB with one arena alone, 9-11 MiB with both
//! (peak 85-90 MiB), and the metrics are as fast as before. A low mmap
//! threshold frees as well but made every milestone about 10% slower (fresh
//! pages to fault in each time).
//!
//! The opposite also costs: glibc's default threshold starts at 128 KiB, so
//! the per-block buffers of the metric passes (0.1-4 MiB: k-means partial
//! sums, similarity slabs, distance rows), freed and allocated again on
//! every pass, were mmap'd, unmapped and faulted in afresh each time. The
//! threshold is fixed at [`MMAP_THRESHOLD`] instead: such buffers are reused
//! from the arena (and still trimmed when idle), while the matrices above it
//! are mapped and unmapped as before. Measured on `sslwatch metrics` (2
//! cores): 10,000 x 512 label-free 0.46-0.50 s -> 0.42 s (system time 0.08-0.11
//! -> 0.04-0.05 s); 50,000 x 2,048 unchanged (11.0 s), peak RSS 566 -> 576 MiB
//! (1.45x -> 1.47x the input).

use crate::metrics::MetricSettings;

/// Allocations at least this large are mapped on their own (and unmapped
/// when freed); smaller ones come from the arena and are reused.
pub const MMAP_THRESHOLD: usize = 4 << 20;

/// Free memory at the top of the arena is given back past this much (a
/// fixed mmap threshold turns glibc's adaptive one off, which would
/// otherwise leave it at 128 KiB and trim, then fault in, the top of the
/// heap on nearly every free). The idle trim still returns all of it.
pub const TRIM_THRESHOLD: usize = 4 * MMAP_THRESHOLD;

/// Use one malloc arena for all threads, a fixed mmap threshold of
/// [`MMAP_THRESHOLD`] and trim threshold of [`TRIM_THRESHOLD`] (glibc;
/// `false` elsewhere). Call once at start-up, before other threads exist.
/// Returns whether the allocator took the settings.
pub fn configure_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters, under its own lock.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1) == 1
                && libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Give the allocator's free memory back to the operating system (glibc's
/// `malloc_trim`; nothing to do elsewhere). Safe while other threads
/// allocate; the engine calls it when nothing is computing or queued.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes each arena's lock and only returns free
    // pages; it touches no memory that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The memory one milestone layer may cost: its decoded float32 matrix plus
/// the metrics' working set, decided from the headers before anything is
/// read or allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget(pub u64);

/// The default budget's ceiling: 2 GiB.
pub const DEFAULT_BUDGET_CAP: u64 = 2 << 30;

impl Default for MemoryBudget {
    /// The smaller of 2 GiB and a quarter of the memory this process may
    /// use (physical RAM, or a smaller cgroup limit).
    fn default() -> MemoryBudget {
        let quarter = physical_memory().map_or(DEFAULT_BUDGET_CAP, |m| m / 4);
        MemoryBudget(quarter.clamp(64 << 20, DEFAULT_BUDGET_CAP))
    }
}

/// What one layer needs, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerNeed {
    /// The decoded float32 matrix.
    pub matrix: u64,
    /// The metrics' peak working set on top of it.
    pub working: u64,
}

impl LayerNeed {
    /// What a layer of `rows x cols` needs with these settings, with labels
    /// of `label_classes` distinct values (`None`: no labels).
    pub fn of(
        rows: usize,
        cols: usize,
        label_classes: Option<usize>,
        settings: &MetricSettings,
    ) -> LayerNeed {
        LayerNeed {
            matrix: (rows as u64).saturating_mul(cols as u64).saturating_mul(4),
            working: crate::metrics::working_set_bytes(rows, cols, label_classes, settings),
        }
    }

    pub fn total(&self) -> u64 {
        self.matrix.saturating_add(self.working)
    }
}

impl MemoryBudget {
    /// Whether a layer that needs `need` fits; the refusal says the numbers.
    pub fn check(&self, need: LayerNeed) -> Result<(), String> {
        if need.total() <= self.0 {
            return Ok(());
        }
        Err(format!(
            "needs {} ({} array + {} for the metrics), over the memory budget of {} (--max-memory)",
            human_bytes(need.total()),
            human_bytes(need.matrix),
            human_bytes(need.working),
            human_bytes(self.0)
        ))
    }
}

/// Physical memory, or the cgroup's limit when that is smaller.
pub fn physical_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf only reads system parameters.
        let (pages, page) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let ram = (pages > 0 && page > 0).then(|| (pages as u64).saturating_mul(page as u64));
        let cgroup = [
            "/sys/fs/cgroup/memory.max",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|t| t.trim().parse::<u64>().ok());
        match (ram, cgroup) {
            (Some(r), Some(c)) => Some(r.min(c)),
            (r, c) => r.or(c),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// `1.5 GiB`, `640 MiB`, `12 KiB`, `100 B`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

/// Parse a size such as `2G`, `512M`, `1.5GiB`, `800MB` or `1000000`
/// (bytes). K/M/G/T are powers of 1024, with or without `B`/`iB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a size (examples: 2G, 512M, 1.5GiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}' (use K, M, G or T)"
            ))
        }
    };
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("'{text}' is too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("800mb"), Ok(800 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("1e30T").is_err());
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(100), "100 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(2 << 30), "2.0 GiB");
        assert_eq!(human_bytes(1600 << 20), "1.6 GiB");
        assert_eq!(human_bytes(640 << 20), "640 MiB");
    }

    #[test]
    fn default_budget_is_at_most_2_gib_and_a_quarter_of_ram() {
        let b = MemoryBudget::default().0;
        assert!(b <= DEFAULT_BUDGET_CAP);
        if let Some(ram) = physical_memory() {
            assert!(b <= (ram / 4).max(64 << 20), "{b} of {ram}");
        }
    }

    #[test]
    fn the_refusal_says_need_and_budget() {
        let need = LayerNeed {
            matrix: 1600 << 20,
            working: 900 << 20,
        };
        let msg = MemoryBudget(2 << 30).check(need).unwrap_err();
        assert!(msg.contains("2.4 GiB") && msg.contains("2.0 GiB"), "{msg}");
        assert!(MemoryBudget(3 << 30).check(need).is_ok());
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_setting() {
        assert!(super::configure_allocator());
    }
}
