//! Label selectors as upstream apimachinery `labels.Parse` and `metav1.LabelSelectorAsSelector`
//! define them: the string syntax (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`,
//! `a>1`, `a<1`), the `LabelSelector` JSON form, matching, and the canonical string form.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::validation::{
    FieldError, FieldPath, aggregate, is_qualified_name, is_valid_label_value, quote,
    validate_label_name, validate_labels,
};

/// Why a label selector was rejected; `Display` gives upstream's message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelSelectorError {
    /// The string form did not follow the grammar, e.g. `found ',', expected: identifier after ','`.
    #[error("{0}")]
    Syntax(String),
    /// A requirement of the string form failed; wraps the cause as
    /// `unable to parse requirement: ...`.
    #[error("unable to parse requirement: {0}")]
    ParseRequirement(Box<LabelSelectorError>),
    /// A requirement failed validation (key, operator or values), printed as an aggregate.
    #[error("{}", aggregate(.0).unwrap_or_default())]
    ValidateRequirement(Vec<FieldError>),
    /// A `matchExpressions` operator is not `In`/`NotIn`/`Exists`/`DoesNotExist`.
    #[error("{} is not a valid label selector operator", quote(.0))]
    Operator(String),
    /// The `LabelSelector` JSON did not have the expected shape.
    #[error("invalid label selector: {0}")]
    Decode(String),
}

/// A requirement operator (upstream `selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`
    NotIn,
    /// `key=a`
    Equals,
    /// `key==a`
    DoubleEquals,
    /// `key!=a`
    NotEquals,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>1` (integer comparison)
    GreaterThan,
    /// `key<1` (integer comparison)
    LessThan,
}

impl Operator {
    /// The upstream `selection.Operator` string (`in`, `notin`, `=`, `==`, `!=`, `exists`, `!`, `gt`, `lt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::NotIn => "notin",
            Self::Equals => "=",
            Self::DoubleEquals => "==",
            Self::NotEquals => "!=",
            Self::Exists => "exists",
            Self::DoesNotExist => "!",
            Self::GreaterThan => "gt",
            Self::LessThan => "lt",
        }
    }
}

/// One `key operator values` term of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds a validated requirement (upstream `NewRequirement`): the key must be a qualified
    /// name, values valid label values, and the value count must fit the operator.
    pub fn new(
        key: &str,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Self, LabelSelectorError> {
        let mut errs = Vec::new();
        if let Some(e) = validate_key(key, "key") {
            errs.push(e);
        }
        let values_path = FieldPath::new("values");
        let list = || Value::from(values.clone());
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(FieldError::invalid(
                        &values_path,
                        list(),
                        "for 'in', 'notin' operators, values set can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid(
                        &values_path,
                        list(),
                        "exact-match compatibility requires one single value",
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(FieldError::invalid(
                        &values_path,
                        list(),
                        "values set must be empty for exists and does not exist",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid(
                        &values_path,
                        list(),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(FieldError::invalid(
                            values_path.index(i),
                            v.as_str(),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = is_valid_label_value(v);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(
                    values_path.index(i).key(key),
                    v.as_str(),
                    msgs.join("; "),
                ));
            }
        }
        if !errs.is_empty() {
            return Err(LabelSelectorError::ValidateRequirement(errs));
        }
        Ok(Self {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, in the order given (the parser gives them sorted and deduplicated).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label set satisfies this requirement; `notin` and `!=` match an absent key.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.values.contains(v))
            }
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(have) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [want] = self.values.as_slice() else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut sorted: Vec<&str> = self.values.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        f.write_str(&sorted.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: either "nothing" (a null `LabelSelector`) or a conjunction of
/// requirements, sorted by key; no requirements means "everything".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Matches no object (upstream `labels.Nothing()`, from a null `LabelSelector`).
    Nothing,
    /// Matches objects satisfying every requirement; empty matches everything.
    Requirements(Vec<Requirement>),
}

impl Default for Selector {
    fn default() -> Self {
        Self::everything()
    }
}

impl Selector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::Requirements(Vec::new())
    }

    /// The selector that matches no object.
    pub fn nothing() -> Self {
        Self::Nothing
    }

    /// Parses the string form (upstream `labels.Parse`), e.g. `?labelSelector=` of a list.
    pub fn parse(selector: &str) -> Result<Self, LabelSelectorError> {
        let mut reqs = parse::parse(selector)?;
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self::Requirements(reqs))
    }

    /// Converts a metav1 `LabelSelector` JSON value (upstream `LabelSelectorAsSelector`):
    /// `null` matches nothing, `{}` matches everything; `matchLabels` become `=` terms and
    /// `matchExpressions` accept only `In`, `NotIn`, `Exists` and `DoesNotExist`.
    pub fn from_label_selector(selector: &Value) -> Result<Self, LabelSelectorError> {
        let obj = match selector {
            Value::Null => return Ok(Self::Nothing),
            Value::Object(o) => o,
            other => {
                return Err(LabelSelectorError::Decode(format!(
                    "expected an object, got {other}"
                )));
            }
        };
        let mut reqs = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let v = v.as_str().ok_or_else(|| {
                        LabelSelectorError::Decode(format!("matchLabels[{k}] is not a string"))
                    })?;
                    reqs.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
                }
            }
            Some(_) => {
                return Err(LabelSelectorError::Decode(
                    "matchLabels is not an object".into(),
                ));
            }
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for expr in exprs {
                    reqs.push(expression_requirement(expr)?);
                }
            }
            Some(_) => {
                return Err(LabelSelectorError::Decode(
                    "matchExpressions is not a list".into(),
                ));
            }
        }
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self::Requirements(reqs))
    }

    /// A selector requiring exactly the given labels (upstream `SelectorFromSet`); not validated.
    pub fn from_set(labels: &BTreeMap<String, String>) -> Self {
        Self::Requirements(
            labels
                .iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    operator: Operator::Equals,
                    values: vec![v.clone()],
                })
                .collect(),
        )
    }

    /// Whether a label set satisfies the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Self::Nothing => false,
            Self::Requirements(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }

    /// True when the selector does not restrict anything (matches everything).
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Requirements(r) if r.is_empty())
    }

    /// True only for [`Selector::Nothing`].
    pub fn matches_nothing(&self) -> bool {
        matches!(self, Self::Nothing)
    }

    /// The requirements (empty for both "everything" and "nothing").
    pub fn requirements(&self) -> &[Requirement] {
        match self {
            Self::Nothing => &[],
            Self::Requirements(r) => r,
        }
    }

    /// Adds requirements, keeping them sorted by key; adding to "nothing" stays "nothing".
    pub fn add_requirements(self, more: impl IntoIterator<Item = Requirement>) -> Self {
        match self {
            Self::Nothing => Self::Nothing,
            Self::Requirements(mut reqs) => {
                reqs.extend(more);
                reqs.sort_by(|a, b| a.key.cmp(&b.key));
                Self::Requirements(reqs)
            }
        }
    }

    /// The single value the selector pins `label` to (via `=`, `==` or a one-value `in`), if any.
    pub fn requires_exact_match(&self, label: &str) -> Option<&str> {
        let req = self.requirements().iter().find(|r| r.key == label)?;
        match (req.operator, req.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Selector {
    /// The canonical string form; "nothing" prints as the empty string, as upstream.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = LabelSelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn expression_requirement(expr: &Value) -> Result<Requirement, LabelSelectorError> {
    let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
    let op = expr.get("operator").and_then(Value::as_str).unwrap_or("");
    let operator = match op {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => return Err(LabelSelectorError::Operator(other.to_string())),
    };
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(vs)) => vs
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    LabelSelectorError::Decode(format!("values of {key} must be strings"))
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(LabelSelectorError::Decode(format!(
                "values of {key} must be a list"
            )));
        }
    };
    Requirement::new(key, operator, values)
}

fn validate_key(key: &str, path: &str) -> Option<FieldError> {
    let msgs = is_qualified_name(key);
    (!msgs.is_empty()).then(|| FieldError::invalid(path, key, msgs.join("; ")))
}

/// Validates a metav1 `LabelSelector` in an object (upstream `ValidateLabelSelector`), e.g. a
/// Deployment's `spec.selector` at `path`. `null` is valid.
pub fn validate_label_selector(selector: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if selector.is_null() {
        return errs;
    }
    errs.extend(validate_labels(
        selector.get("matchLabels").unwrap_or(&Value::Null),
        &path.child("matchLabels"),
    ));
    let exprs = selector.get("matchExpressions").and_then(Value::as_array);
    for (i, expr) in exprs.into_iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let op = expr.get("operator").and_then(Value::as_str).unwrap_or("");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                p.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
        errs.extend(validate_label_name(key, &p.child("key")));
        for (vi, v) in values.iter().enumerate() {
            for msg in is_valid_label_value(v) {
                errs.push(FieldError::invalid(p.child("values").index(vi), *v, msg));
            }
        }
    }
    errs
}

/// The recursive-descent parser of the string form, token for token as upstream.
mod parse {
    use super::{LabelSelectorError, Operator, Requirement, validate_key};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Token {
        End,
        ClosedPar,
        Comma,
        DoesNotExist,
        DoubleEquals,
        Equals,
        GreaterThan,
        Identifier,
        In,
        LessThan,
        NotEquals,
        NotIn,
        OpenPar,
    }

    /// Whether `in`/`notin` are keywords (operator position) or plain identifiers (values).
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Context {
        KeyAndOperator,
        Values,
    }

    fn is_whitespace(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\r' | b'\n')
    }

    fn is_special(b: u8) -> bool {
        matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
    }

    /// Splits the input into tokens; upstream reads bytes and stops at a NUL byte.
    fn lex(input: &str) -> Vec<(Token, String)> {
        let bytes = input.as_bytes();
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let bytes = &bytes[..end];
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            while pos < bytes.len() && is_whitespace(bytes[pos]) {
                pos += 1;
            }
            if pos >= bytes.len() {
                out.push((Token::End, String::new()));
                return out;
            }
            let b = bytes[pos];
            if is_special(b) {
                let two = bytes.get(pos + 1) == Some(&b'=') && (b == b'=' || b == b'!');
                let (tok, len) = match (b, two) {
                    (b'=', true) => (Token::DoubleEquals, 2),
                    (b'!', true) => (Token::NotEquals, 2),
                    (b'=', false) => (Token::Equals, 1),
                    (b'!', false) => (Token::DoesNotExist, 1),
                    (b'(', _) => (Token::OpenPar, 1),
                    (b')', _) => (Token::ClosedPar, 1),
                    (b',', _) => (Token::Comma, 1),
                    (b'>', _) => (Token::GreaterThan, 1),
                    _ => (Token::LessThan, 1),
                };
                out.push((
                    tok,
                    String::from_utf8_lossy(&bytes[pos..pos + len]).into_owned(),
                ));
                pos += len;
            } else {
                let start = pos;
                while pos < bytes.len() && !is_special(bytes[pos]) && !is_whitespace(bytes[pos]) {
                    pos += 1;
                }
                let lit = String::from_utf8_lossy(&bytes[start..pos]).into_owned();
                let tok = match lit.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Identifier,
                };
                out.push((tok, lit));
            }
        }
    }

    struct Parser {
        items: Vec<(Token, String)>,
        position: usize,
    }

    fn syntax(msg: String) -> LabelSelectorError {
        LabelSelectorError::Syntax(msg)
    }

    impl Parser {
        fn lookahead(&self, ctx: Context) -> (Token, &str) {
            let (tok, lit) = &self.items[self.position.min(self.items.len() - 1)];
            (adjust(*tok, ctx), lit)
        }

        fn consume(&mut self, ctx: Context) -> (Token, String) {
            let idx = self.position.min(self.items.len() - 1);
            self.position += 1;
            let (tok, lit) = &self.items[idx];
            (adjust(*tok, ctx), lit.clone())
        }

        fn parse(&mut self) -> Result<Vec<Requirement>, LabelSelectorError> {
            let mut reqs = Vec::new();
            loop {
                let (tok, lit) = self.lookahead(Context::Values);
                match tok {
                    Token::Identifier | Token::DoesNotExist => {
                        let r = self
                            .requirement()
                            .map_err(|e| LabelSelectorError::ParseRequirement(Box::new(e)))?;
                        reqs.push(r);
                        let (t, l) = self.consume(Context::Values);
                        match t {
                            Token::End => return Ok(reqs),
                            Token::Comma => {
                                let (t2, l2) = self.lookahead(Context::Values);
                                if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                    return Err(syntax(format!(
                                        "found '{l2}', expected: identifier after ','"
                                    )));
                                }
                            }
                            _ => {
                                return Err(syntax(format!(
                                    "found '{l}', expected: ',' or 'end of string'"
                                )));
                            }
                        }
                    }
                    Token::End => return Ok(reqs),
                    _ => {
                        return Err(syntax(format!(
                            "found '{lit}', expected: !, identifier, or 'end of string'"
                        )));
                    }
                }
            }
        }

        fn requirement(&mut self) -> Result<Requirement, LabelSelectorError> {
            let (key, unary) = self.key_and_infer_operator()?;
            if let Some(op) = unary {
                return Requirement::new(&key, op, Vec::new());
            }
            let op = self.operator()?;
            let values = match op {
                Operator::In | Operator::NotIn => self.values()?,
                _ => self.exact_value()?,
            };
            Requirement::new(&key, op, values)
        }

        /// Reads `[!]key`; infers `Exists` when nothing follows; `!key` is always `DoesNotExist`.
        fn key_and_infer_operator(
            &mut self,
        ) -> Result<(String, Option<Operator>), LabelSelectorError> {
            let mut op = None;
            let (mut tok, mut lit) = self.consume(Context::Values);
            if tok == Token::DoesNotExist {
                op = Some(Operator::DoesNotExist);
                (tok, lit) = self.consume(Context::Values);
            }
            if tok != Token::Identifier {
                return Err(syntax(format!("found '{lit}', expected: identifier")));
            }
            // Upstream validates the key here with a nil field path, printed as "<nil>".
            if let Some(e) = validate_key(&lit, "<nil>") {
                return Err(LabelSelectorError::ValidateRequirement(vec![e]));
            }
            let (next, _) = self.lookahead(Context::Values);
            if (next == Token::End || next == Token::Comma) && op.is_none() {
                op = Some(Operator::Exists);
            }
            Ok((lit, op))
        }

        fn operator(&mut self) -> Result<Operator, LabelSelectorError> {
            let (tok, lit) = self.consume(Context::KeyAndOperator);
            Ok(match tok {
                Token::In => Operator::In,
                Token::Equals => Operator::Equals,
                Token::DoubleEquals => Operator::DoubleEquals,
                Token::GreaterThan => Operator::GreaterThan,
                Token::LessThan => Operator::LessThan,
                Token::NotIn => Operator::NotIn,
                Token::NotEquals => Operator::NotEquals,
                _ => {
                    return Err(syntax(format!(
                        "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                    )));
                }
            })
        }

        /// Reads `( v1, v2, ... )`; the result is sorted and deduplicated (a string set).
        fn values(&mut self) -> Result<Vec<String>, LabelSelectorError> {
            let (tok, lit) = self.consume(Context::Values);
            if tok != Token::OpenPar {
                return Err(syntax(format!("found '{lit}' expected: '('")));
            }
            let (tok, lit) = self.lookahead(Context::Values);
            let lit = lit.to_string();
            match tok {
                Token::Identifier | Token::Comma => {
                    let set = self.identifiers_list()?;
                    let (tok, _) = self.consume(Context::Values);
                    if tok != Token::ClosedPar {
                        return Err(syntax(format!("found '{lit}', expected: ')'")));
                    }
                    Ok(set)
                }
                Token::ClosedPar => {
                    self.consume(Context::Values);
                    Ok(vec![String::new()])
                }
                _ => Err(syntax(format!(
                    "found '{lit}', expected: ',', ')' or identifier"
                ))),
            }
        }

        fn identifiers_list(&mut self) -> Result<Vec<String>, LabelSelectorError> {
            let mut set = std::collections::BTreeSet::new();
            loop {
                let (tok, lit) = self.consume(Context::Values);
                match tok {
                    Token::Identifier => {
                        set.insert(lit);
                        let (tok2, lit2) = self.lookahead(Context::Values);
                        match tok2 {
                            Token::Comma => continue,
                            Token::ClosedPar => return Ok(set.into_iter().collect()),
                            _ => {
                                return Err(syntax(format!(
                                    "found '{lit2}', expected: ',' or ')'"
                                )));
                            }
                        }
                    }
                    Token::Comma => {
                        if set.is_empty() {
                            set.insert(String::new());
                        }
                        let (tok2, _) = self.lookahead(Context::Values);
                        if tok2 == Token::ClosedPar {
                            set.insert(String::new());
                            return Ok(set.into_iter().collect());
                        }
                        if tok2 == Token::Comma {
                            set.insert(String::new());
                        }
                    }
                    _ => {
                        return Err(syntax(format!(
                            "found '{lit}', expected: ',', or identifier"
                        )));
                    }
                }
            }
        }

        fn exact_value(&mut self) -> Result<Vec<String>, LabelSelectorError> {
            let (tok, _) = self.lookahead(Context::Values);
            if tok == Token::End || tok == Token::Comma {
                return Ok(vec![String::new()]);
            }
            let (tok, lit) = self.consume(Context::Values);
            if tok == Token::Identifier {
                return Ok(vec![lit]);
            }
            Err(syntax(format!("found '{lit}', expected: identifier")))
        }
    }

    fn adjust(tok: Token, ctx: Context) -> Token {
        match (ctx, tok) {
            (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
            _ => tok,
        }
    }

    /// Parses the whole selector string into requirements (unsorted).
    pub(super) fn parse(input: &str) -> Result<Vec<Requirement>, LabelSelectorError> {
        Parser {
            items: lex(input),
            position: 0,
        }
        .parse()
    }
}
