//! Where batches come from: a source that can say which tuples batch
//! `txid` holds, for each partition, the same on every attempt (a
//! transactional source, as a durable log read by offset is).

use crate::storm::Value;
use std::sync::Arc;
use std::time::Duration;

pub trait BatchSource: Clone + Send + Sync + 'static {
    /// The fields of the tuples a batch holds.
    fn fields(&self) -> Vec<&'static str>;
    /// Whether batch `txid` (from 1) holds anything: the coordinator starts
    /// no batch past the end of the input.
    fn exists(&self, txid: u64) -> bool;
    /// Whether batch `txid` can start at `now` (its input has arrived).
    fn ready(&self, txid: u64, now: Duration) -> bool;
    /// The tuples of batch `txid` in `partition` of `partitions`.
    fn batch(&self, txid: u64, partition: usize, partitions: usize) -> Vec<Vec<Value>>;
}

/// A log of records cut into batches of `size` consecutive offsets; batch
/// `t` covers offsets `[(t-1)·size, t·size)`, and partition `p` takes the
/// offsets `≡ p` modulo the partition count. Records arrive at `rate` a
/// second (None: all at once), so a batch starts when its last has come.
#[derive(Clone)]
pub struct LogBatches {
    pub log: Arc<Vec<String>>,
    pub size: usize,
    pub rate: Option<f64>,
    pub field: &'static str,
}

impl LogBatches {
    fn range(&self, txid: u64) -> std::ops::Range<usize> {
        let size = self.size.max(1);
        let start = (txid.max(1) as usize - 1).saturating_mul(size);
        start.min(self.log.len())..start.saturating_add(size).min(self.log.len())
    }
}

impl BatchSource for LogBatches {
    fn fields(&self) -> Vec<&'static str> {
        vec![self.field]
    }
    fn exists(&self, txid: u64) -> bool {
        !self.range(txid).is_empty()
    }
    fn ready(&self, txid: u64, now: Duration) -> bool {
        let arrived = |rate: f64| (now.as_secs_f64() * rate) as usize;
        self.rate.is_none_or(|r| arrived(r) >= self.range(txid).end)
    }
    fn batch(&self, txid: u64, partition: usize, partitions: usize) -> Vec<Vec<Value>> {
        let n = partitions.max(1);
        self.range(txid)
            .filter(|o| o % n == partition)
            .map(|o| vec![Value::from(self.log[o].as_str())])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_the_log_once_across_partitions() {
        let log: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let src = LogBatches {
            log: Arc::new(log),
            size: 4,
            rate: None,
            field: "line",
        };
        let mut seen = Vec::new();
        for t in 1..=3 {
            assert!(src.exists(t));
            for p in 0..3 {
                for v in src.batch(t, p, 3) {
                    seen.push(v[0].clone());
                }
            }
        }
        assert!(!src.exists(4));
        assert_eq!(seen.len(), 10);
        assert_eq!(src.batch(3, 0, 3), vec![vec![Value::from("9")]]);
    }

    #[test]
    fn a_paced_batch_waits_for_its_last_record() {
        let log: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let src = LogBatches {
            log: Arc::new(log),
            size: 4,
            rate: Some(2.0),
            field: "line",
        };
        assert!(!src.ready(1, Duration::from_millis(1900)));
        assert!(src.ready(1, Duration::from_secs(2)));
        assert!(
            src.ready(3, Duration::from_secs(5)),
            "the last batch is short"
        );
    }
}
