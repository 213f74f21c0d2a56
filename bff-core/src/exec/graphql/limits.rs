//! What an operation asks for, measured before any call is made: its
//! depth, its aliases, its root fields and its estimated cost.

use apollo_compiler::ExecutableDocument;
use apollo_compiler::executable::{Operation, Selection};

use crate::plan::graphql::Graphql;

/// Why an operation is refused before it runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Exceeded {
    /// Selections nest deeper than `max_depth`.
    #[error("the operation nests {found} levels deep; at most {limit} are allowed")]
    Depth { found: usize, limit: usize },
    /// More aliased fields than `max_aliases`.
    #[error("the operation has {found} aliases; at most {limit} are allowed")]
    Aliases { found: usize, limit: usize },
    /// More root fields than `max_root_fields`.
    #[error("the operation selects {found} root fields; at most {limit} are allowed")]
    RootFields { found: usize, limit: usize },
    /// An estimated cost above `max_cost`.
    #[error("the operation's estimated cost is {found}; at most {limit} is allowed")]
    Cost { found: u64, limit: u64 },
}

impl Exceeded {
    /// The `extensions.code` of the error.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Depth { .. } => "MAX_DEPTH_EXCEEDED",
            Self::Aliases { .. } => "MAX_ALIASES_EXCEEDED",
            Self::RootFields { .. } => "MAX_ROOT_FIELDS_EXCEEDED",
            Self::Cost { .. } => "COST_LIMIT_EXCEEDED",
        }
    }
}

/// What was measured.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Measure {
    /// Deepest nesting; root fields are at depth 1.
    pub depth: usize,
    /// Fields with an alias.
    pub aliases: usize,
    /// Root fields.
    pub root_fields: usize,
    /// Estimated cost.
    pub cost: u64,
}

/// Checks an operation against the endpoint's limits.
pub(crate) fn check(
    graphql: &Graphql,
    document: &ExecutableDocument,
    operation: &Operation,
) -> Result<Measure, Exceeded> {
    let m = measure(graphql, document, operation);
    let l = &graphql.limits;
    if m.depth > l.max_depth {
        return Err(Exceeded::Depth {
            found: m.depth,
            limit: l.max_depth,
        });
    }
    if m.aliases > l.max_aliases {
        return Err(Exceeded::Aliases {
            found: m.aliases,
            limit: l.max_aliases,
        });
    }
    if m.root_fields > l.max_root_fields {
        return Err(Exceeded::RootFields {
            found: m.root_fields,
            limit: l.max_root_fields,
        });
    }
    if m.cost > l.max_cost {
        return Err(Exceeded::Cost {
            found: m.cost,
            limit: l.max_cost,
        });
    }
    Ok(m)
}

/// Measures an operation, fragments expanded where they are spread.
pub(crate) fn measure(
    graphql: &Graphql,
    document: &ExecutableDocument,
    operation: &Operation,
) -> Measure {
    let mut m = Measure::default();
    let cx = Walk { graphql, document };
    let mut roots = Vec::new();
    cx.fields(
        &operation.selection_set.selections,
        &mut roots,
        &mut Vec::new(),
    );
    m.root_fields = roots
        .iter()
        .map(|f| f.response_key().as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    cx.walk(
        operation.object_type(),
        &operation.selection_set.selections,
        1,
        1,
        &mut m,
    );
    m
}

struct Walk<'a> {
    graphql: &'a Graphql,
    document: &'a ExecutableDocument,
}

impl<'a> Walk<'a> {
    /// The fields of a selection set, through fragments (each once per path).
    fn fields(
        &self,
        selections: &'a [Selection],
        out: &mut Vec<&'a apollo_compiler::executable::Field>,
        seen: &mut Vec<&'a str>,
    ) {
        for s in selections {
            match s {
                Selection::Field(f) => out.push(f),
                Selection::InlineFragment(i) => self.fields(&i.selection_set.selections, out, seen),
                Selection::FragmentSpread(spread) => {
                    let name = spread.fragment_name.as_str();
                    if seen.contains(&name) {
                        continue;
                    }
                    if let Some(fragment) = self.document.fragments.get(name) {
                        seen.push(name);
                        self.fields(&fragment.selection_set.selections, out, seen);
                        seen.pop();
                    }
                }
            }
        }
    }

    /// Adds the cost of `selections` on objects of `parent_type`, expected
    /// `times` times, at `depth`.
    fn walk(
        &self,
        parent_type: &str,
        selections: &'a [Selection],
        depth: usize,
        times: u64,
        m: &mut Measure,
    ) {
        let mut fields = Vec::new();
        self.fields(selections, &mut fields, &mut Vec::new());
        let limits = &self.graphql.limits;
        for f in fields {
            if f.alias.is_some() {
                m.aliases += 1;
            }
            if f.name.starts_with("__") {
                continue;
            }
            m.depth = m.depth.max(depth);
            m.cost = m.cost.saturating_add(times);
            if let Some(r) = self.graphql.resolver(parent_type, &f.name) {
                let requests = match r.call.for_each.as_ref().and_then(|fe| fe.batch) {
                    Some(batch) => times.div_ceil(batch as u64).max(1),
                    None => times,
                };
                m.cost = m
                    .cost
                    .saturating_add(requests.saturating_mul(limits.call_cost));
            }
            if f.selection_set.selections.is_empty() {
                continue;
            }
            let mut below = times;
            let mut ty = f.ty();
            while ty.is_list() {
                below = below.saturating_mul(list_size(f, limits.list_size));
                ty = ty.item_type();
            }
            self.walk(
                f.selection_set.ty.as_str(),
                &f.selection_set.selections,
                depth + 1,
                below,
                m,
            );
        }
    }
}

/// The length a list field is expected to have: its `first`, `last`,
/// `limit` or `size` argument when given as a number, else the default.
fn list_size(f: &apollo_compiler::executable::Field, default: u64) -> u64 {
    for name in ["first", "last", "limit", "size"] {
        if let Some(v) = f.specified_argument_by_name(name)
            && let apollo_compiler::ast::Value::Int(i) = v.as_ref()
            && let Ok(n) = i.try_to_i32()
        {
            return n.max(0) as u64;
        }
    }
    default
}
