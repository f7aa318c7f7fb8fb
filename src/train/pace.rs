//! Throughput and time left of a run, from the loop's [`Progress`] events
//! (the CLI's progress bar and `sslwatch study` show them).

use super::trainer::Progress;
use std::time::Instant;

/// Throughput and time left of one run, from its progress events: the
/// ETA is the run's wall time so far per batch (milestones included)
/// times the batches left.
#[derive(Debug, Default)]
pub struct Pace {
    started: Option<Instant>,
    batch_size: usize,
    batches_per_epoch: usize,
    batches_left: usize,
    batches_done: usize,
    epoch_started: Option<(Instant, usize)>,
}

impl Pace {
    pub fn observe(&mut self, p: &Progress) {
        match p {
            Progress::Start {
                batches_per_epoch,
                batch_size,
                epoch,
                epochs,
                ..
            } => {
                self.started = Some(Instant::now());
                self.batch_size = *batch_size;
                self.batches_per_epoch = *batches_per_epoch;
                self.batches_left = batches_per_epoch * epochs.saturating_sub(*epoch) as usize;
                self.batches_done = 0;
            }
            Progress::EpochStart { done, .. } => {
                // a resumed epoch: its first `done` batches are behind us
                self.batches_left = self.batches_left.saturating_sub(*done);
                self.epoch_started = Some((Instant::now(), self.batches_done));
            }
            Progress::Batch { .. } => {
                self.batches_done += 1;
                self.batches_left = self.batches_left.saturating_sub(1);
            }
            _ => {}
        }
    }

    /// Training images of one epoch.
    pub fn images_per_epoch(&self) -> usize {
        self.batches_per_epoch * self.batch_size
    }

    /// Training images done since the run started (or resumed).
    pub fn images_done(&self) -> usize {
        self.batches_done * self.batch_size
    }

    /// Training images left in the run (0 once it is complete).
    pub fn images_left(&self) -> usize {
        self.batches_left * self.batch_size
    }

    /// Training images per second in the current epoch.
    pub fn images_per_s(&self) -> Option<f64> {
        let (t, done0) = self.epoch_started?;
        let batches = self.batches_done - done0;
        let secs = t.elapsed().as_secs_f64();
        (batches > 0 && secs > 0.0).then(|| (batches * self.batch_size) as f64 / secs)
    }

    /// Seconds left in this run.
    pub fn eta_secs(&self) -> Option<f64> {
        let secs = self.started?.elapsed().as_secs_f64();
        (self.batches_done > 0).then(|| secs / self.batches_done as f64 * self.batches_left as f64)
    }

    pub fn eta_text(&self) -> String {
        match self.eta_secs() {
            Some(s) => format!("run ETA {}", clock(s)),
            None => "run ETA -".into(),
        }
    }

    /// "1,234 images/s · run ETA 3:10".
    pub fn status(&self) -> String {
        let rate = self
            .images_per_s()
            .map_or("- images/s".into(), |r| format!("{r:.0} images/s"));
        format!("{rate} · {}", self.eta_text())
    }
}

/// Seconds as `m:ss` or `h:mm:ss`.
pub fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_formats_minutes_and_hours() {
        assert_eq!(clock(65.4), "1:05");
        assert_eq!(clock(3725.0), "1:02:05");
        assert_eq!(clock(-3.0), "0:00");
    }

    #[test]
    fn pace_counts_the_batches_left_including_a_resumed_epoch() {
        let mut p = Pace::default();
        assert_eq!(p.eta_text(), "run ETA -");
        p.observe(&Progress::Start {
            device: "Cpu".into(),
            train_size: 1280,
            eval_size: 10,
            batches_per_epoch: 5,
            batch_size: 256,
            epoch: 1,
            epochs: 3,
        });
        // resumed in epoch 2 with 2 of its 5 batches done: 8 left
        p.observe(&Progress::EpochStart {
            epoch: 2,
            batches: 5,
            done: 2,
        });
        for _ in 0..3 {
            p.observe(&Progress::Batch { loss: 1.0 });
        }
        assert_eq!((p.batches_done, p.batches_left), (3, 5));
        assert_eq!(
            (p.images_done(), p.images_left(), p.images_per_epoch()),
            (768, 1280, 1280)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        let eta = p.eta_secs().unwrap();
        let rate = p.images_per_s().unwrap();
        assert!(eta > 0.0 && rate > 0.0, "{eta} {rate}");
        assert!(p.status().contains("images/s · run ETA"), "{}", p.status());
    }
}
