//! The batch emitter: a bolt with one task per source partition. Each
//! `batch` tuple from the coordinator makes it emit that partition's
//! tuples of the batch, anchored on it, so the batch's tree completes only
//! when every tuple of the batch has been processed everywhere.

use super::source::BatchSource;
use crate::storm::collector::BoltCollector;
use crate::storm::component::{Bolt, OutputDeclarer, TaskContext, TaskError};
use crate::storm::Tuple;

#[derive(Clone)]
pub struct BatchEmitter<S: BatchSource> {
    source: S,
    partition: usize,
    partitions: usize,
}

impl<S: BatchSource> BatchEmitter<S> {
    pub fn new(source: S) -> Self {
        BatchEmitter {
            source,
            partition: 0,
            partitions: 1,
        }
    }
}

impl<S: BatchSource> Bolt for BatchEmitter<S> {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare(&self.source.fields());
    }

    fn prepare(&mut self, ctx: &TaskContext) {
        self.partition = ctx.index();
        self.partitions = ctx.component_tasks.len().max(1);
    }

    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        let txid = input
            .get_int("txid")
            .ok_or("a batch tuple without a txid")?;
        for values in self
            .source
            .batch(txid as u64, self.partition, self.partitions)
        {
            out.emit(&[input], values)?;
        }
        out.ack(input);
        Ok(())
    }
}
