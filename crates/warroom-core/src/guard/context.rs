//! Which context an action is for: its kind and its name. The executor keeps its backends
//! by this key, so a PostgreSQL and a Kafka context that share a name can never be mixed up.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContextKind {
    Postgres,
    Kafka,
    Kubernetes,
}

impl ContextKind {
    /// The kind as audit records name it.
    pub fn as_str(self) -> &'static str {
        match self {
            ContextKind::Postgres => "postgres",
            ContextKind::Kafka => "kafka",
            ContextKind::Kubernetes => "kubernetes",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContextId {
    pub kind: ContextKind,
    pub name: String,
}

impl ContextId {
    pub fn new(kind: ContextKind, name: impl Into<String>) -> ContextId {
        ContextId {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for ContextId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} context {}", self.kind.as_str(), self.name)
    }
}
