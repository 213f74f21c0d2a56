//! Query-string parameters as the handlers read them: paging, id lists and
//! plain values, with problem answers for malformed input.

use std::collections::HashMap;

use serde::Serialize;

use super::problem::Problem;

/// Longest id list a batch lookup accepts, like a real service would cap it.
pub(crate) const MAX_BATCH: usize = 100;

/// The query string of a request (first value of each name).
pub(crate) type Params = HashMap<String, String>;

/// `limit` and `offset` of a listing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Paging {
    pub(crate) limit: usize,
    pub(crate) offset: usize,
}

/// One page of a listing: the envelope every listing endpoint returns.
#[derive(Debug, Serialize)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) total: usize,
    pub(crate) offset: usize,
    pub(crate) limit: usize,
}

impl Paging {
    /// Reads `limit` (1..=`max`, default `default`) and either `offset`
    /// (default 0) or a 1-based `page` of `limit` items, which spares
    /// callers the arithmetic.
    pub(crate) fn from_params(
        params: &Params,
        default: usize,
        max: usize,
    ) -> Result<Self, Problem> {
        let limit = number(params, "limit")?.unwrap_or(default);
        if limit == 0 || limit > max {
            return Err(Problem::bad_request(format!(
                "limit must be between 1 and {max}"
            )));
        }
        let offset = match (number(params, "offset")?, number(params, "page")?) {
            (Some(_), Some(_)) => {
                return Err(Problem::bad_request("give offset or page, not both"));
            }
            (Some(offset), None) => offset,
            (None, Some(0)) => return Err(Problem::bad_request("page starts at 1")),
            (None, Some(page)) => (page - 1).saturating_mul(limit),
            (None, None) => 0,
        };
        Ok(Self { limit, offset })
    }

    /// Cuts this page out of all matching items.
    pub(crate) fn page<T: Clone>(self, all: &[T]) -> Page<T> {
        Page {
            items: all
                .iter()
                .skip(self.offset)
                .take(self.limit)
                .cloned()
                .collect(),
            total: all.len(),
            offset: self.offset,
            limit: self.limit,
        }
    }
}

/// A non-negative integer parameter.
pub(crate) fn number(params: &Params, name: &str) -> Result<Option<usize>, Problem> {
    params
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.trim().parse::<usize>().map_err(|_| {
                Problem::bad_request(format!("{name} must be a non-negative integer, got {v:?}"))
            })
        })
        .transpose()
}

/// A required, non-empty parameter.
pub(crate) fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, Problem> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Problem::bad_request(format!("query parameter {name} is required")))
}

/// A comma-separated id list (`ids=a,b,c`), in the order given, at most
/// [`MAX_BATCH`] long; `None` when the parameter is absent.
pub(crate) fn id_list<'a>(params: &'a Params, name: &str) -> Result<Option<Vec<&'a str>>, Problem> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    let ids: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect();
    if ids.len() > MAX_BATCH {
        return Err(Problem::bad_request(format!(
            "at most {MAX_BATCH} ids per request, got {}",
            ids.len()
        )));
    }
    Ok(Some(ids))
}
