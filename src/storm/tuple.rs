//! Tuples as a bolt sees them, and as they travel between tasks.

use super::grouping::{TaskId, Value};
use std::sync::Arc;

/// The id a spout gives a message it wants tracked (Storm allows any
/// object; an offset or a key's number covers what sources need).
pub type MsgId = u64;

/// The stream a component emits on when it names none.
pub const DEFAULT_STREAM: &str = "default";

/// The stream of tick tuples, from the system component.
pub const TICK_STREAM: &str = "__tick";
pub const SYSTEM: &str = "__system";

/// The tuple-tree edges a tuple carries: for each root it descends from,
/// the XOR of the edge ids that lead to it.
pub type Anchors = Vec<(u64, u64)>;

/// A tuple as it travels: what the receiving task needs, no more.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TupleMsg {
    pub source_task: TaskId,
    pub stream: Arc<str>,
    pub values: Vec<Value>,
    pub anchors: Anchors,
    /// Unique per sent tuple: how the history names it.
    pub uid: u64,
}

/// A tuple handed to a bolt's `execute`: values with their declared field
/// names, where it came from, and the identity its collector acks it by.
#[derive(Clone, Debug)]
pub struct Tuple {
    /// Unique within the receiving executor: what `ack` and `fail` and
    /// anchoring look up.
    pub(crate) id: u64,
    pub(crate) source_component: Arc<str>,
    pub(crate) fields: Arc<[String]>,
    pub(crate) msg: TupleMsg,
}

impl Tuple {
    pub fn source_component(&self) -> &str {
        &self.source_component
    }
    pub fn source_task(&self) -> TaskId {
        self.msg.source_task
    }
    pub fn stream(&self) -> &str {
        &self.msg.stream
    }
    pub fn values(&self) -> &[Value] {
        &self.msg.values
    }
    pub fn fields(&self) -> &[String] {
        &self.fields
    }
    /// The value at position `i`.
    pub fn value(&self, i: usize) -> Option<&Value> {
        self.msg.values.get(i)
    }
    /// The value of the field named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.fields.iter().position(|f| f == name)?;
        self.value(i)
    }
    /// The field as a string, if it is one.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The field as an integer, if it is one.
    pub fn get_int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// A tick tuple (`tick_every`), not data.
    pub fn is_tick(&self) -> bool {
        &*self.msg.stream == TICK_STREAM
    }
    /// The roots of the tuple trees this tuple belongs to.
    pub fn roots(&self) -> impl Iterator<Item = u64> + '_ {
        self.msg.anchors.iter().map(|(r, _)| *r)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
