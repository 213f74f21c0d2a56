//! The checks of a request's input, compiled: a JSON Schema validator per
//! declared path and query parameter (with the type its text converts
//! to) and for the body.

/// Where a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A path parameter.
    Path,
    /// A query parameter.
    Query,
}

impl Place {
    /// The name templates read it under, and its JSON pointer's first part.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
        }
    }
}

/// What a parameter's text is converted to before it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Kept as text.
    Text,
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
}

/// One declared parameter.
#[derive(Debug)]
pub struct Param {
    /// Path or query.
    pub place: Place,
    /// Its name.
    pub name: String,
    /// What its text converts to.
    pub kind: Kind,
    /// A query parameter that must be given.
    pub required: bool,
    /// Its schema, as written (for the API description).
    pub schema: serde_json::Value,
    /// The compiled schema.
    pub validator: jsonschema::Validator,
}

/// The checks of one endpoint's input.
#[derive(Debug, Default)]
pub struct InputCheck {
    /// Declared parameters, path ones first.
    pub params: Vec<Param>,
    /// The body's schema, as written, and compiled.
    pub body: Option<(serde_json::Value, jsonschema::Validator)>,
}
