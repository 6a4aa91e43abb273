//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) turned into the JSON
//! a client would have sent for the same object.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` envelope
//! (`{1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}`) whose
//! `raw` is the object encoded with the proto2 message of its Go type. [`decode`] reads the
//! envelope and the object; [`decode_message`] reads one message of a named definition.
//!
//! The schema (every message of the Kubernetes API with its field tags, JSON names and kinds) is
//! the generated table in `schema.rs`, made by `scripts/gen-protobuf-schema.py` from the `k8s-pb`
//! and `k8s-openapi` crates. Messages whose JSON form is not an object (`Quantity`,
//! `IntOrString`, `Time`, `RawExtension`, ...) carry a [`Special`] marker.

mod decode;
#[rustfmt::skip]
mod schema;

pub use decode::{decode, decode_message};

/// The four bytes that open every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// How deeply messages may nest before a body is refused.
pub const MAX_DEPTH: usize = 100;

/// What a field holds, on the wire and in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A UTF-8 string (length-delimited).
    String,
    /// A boolean (varint).
    Bool,
    /// A 32-bit integer (varint).
    Int32,
    /// A 64-bit integer (varint).
    Int64,
    /// A double (fixed64).
    Double,
    /// Bytes (length-delimited), base64 in JSON.
    Bytes,
    /// A nested message of the named definition.
    Message(&'static str),
    /// A Go struct embedded with `json:",inline"`: a nested message on the wire whose fields
    /// sit in the parent's JSON object.
    Inline(&'static str),
    /// A map: repeated entries `{1: key, 2: value}`, a JSON object.
    Map(&'static Kind, &'static Kind),
}

/// One field of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The protobuf field number.
    pub tag: u32,
    /// The JSON property name (empty for [`Kind::Inline`]).
    pub json: &'static str,
    /// What the field holds.
    pub kind: Kind,
    /// Whether the field is `repeated` (a JSON array).
    pub repeated: bool,
    /// Whether the Go field is a value (not a pointer) tagged `omitempty`: Go writes it to
    /// protobuf even when it holds the zero value, and its JSON leaves that zero value out.
    pub omit_empty: bool,
}

/// Messages whose JSON form is not an object of their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// An ordinary message: a JSON object.
    None,
    /// `resource.Quantity` `{1: string}`: the string.
    Quantity,
    /// `intstr.IntOrString` `{1: type, 2: intVal, 3: strVal}`: a number or a string.
    IntOrString,
    /// `meta.v1.Time` `{1: seconds, 2: nanos}`: RFC 3339 to the second; empty is `null`.
    Time,
    /// `meta.v1.MicroTime`: RFC 3339 with microseconds; empty is `null`.
    MicroTime,
    /// `meta.v1.Duration` `{1: nanoseconds}`: a Go duration string (`1m30s`).
    Duration,
    /// `{1: bytes raw}` holding JSON (`RawExtension`, `FieldsV1`, apiextensions `JSON`).
    RawJson,
    /// `{1: repeated string items}` (`Verbs`, `ExtraValue`): a JSON array of strings.
    StringList,
    /// `JSONSchemaPropsOrArray` `{1: schema, 2: repeated schemas}`.
    SchemaOrArray,
    /// `JSONSchemaPropsOrBool` `{1: allows, 2: schema}`.
    SchemaOrBool,
    /// `JSONSchemaPropsOrStringArray` `{1: schema, 2: repeated property}`.
    SchemaOrStringArray,
}

/// One protobuf message, named as its OpenAPI definition (`io.k8s.api.core.v1.ConfigMap`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// The OpenAPI definition name.
    pub name: &'static str,
    /// How its JSON form differs from an object, if it does.
    pub special: Special,
    /// Its fields, sorted by tag.
    pub fields: &'static [Field],
}

impl Message {
    /// The field with protobuf number `tag`.
    pub fn field(&self, tag: u32) -> Option<&'static Field> {
        let fields = self.fields;
        fields
            .binary_search_by_key(&tag, |f| f.tag)
            .ok()
            .map(|i| &fields[i])
    }
}

/// The message of an OpenAPI definition name (`io.k8s.api.apps.v1.Deployment`).
pub fn message(definition: &str) -> Option<&'static Message> {
    schema::MESSAGES
        .binary_search_by(|m| m.name.cmp(definition))
        .ok()
        .map(|i| &schema::MESSAGES[i])
}

/// The message a body of `apiVersion` and `kind` is encoded with: the kind's type in the API
/// version's package, or one of the `meta.k8s.io/v1` option types (`DeleteOptions`, ...) that
/// upstream registers in every group version.
pub fn message_for_kind(api_version: &str, kind: &str) -> Option<&'static Message> {
    let i = schema::API_VERSIONS
        .binary_search_by(|(v, _)| (*v).cmp(api_version))
        .ok()?;
    let package = schema::API_VERSIONS[i].1;
    message(&format!("{package}.{kind}"))
        .or_else(|| message(&format!("io.k8s.apimachinery.pkg.apis.meta.v1.{kind}")))
}

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    BadMagic,
    /// A field runs past the end of its message.
    #[error("truncated protobuf message: {0}")]
    Truncated(String),
    /// Malformed wire data (bad varint, field number 0, unsupported wire type).
    #[error("invalid protobuf message: {0}")]
    Invalid(String),
    /// A field arrived with a wire type its schema does not allow.
    #[error(
        "invalid protobuf message: field {tag} ({json}) of {message} has wire type {wire_type}"
    )]
    WireType {
        /// The message being decoded.
        message: &'static str,
        /// The field number.
        tag: u32,
        /// The field's JSON name.
        json: &'static str,
        /// The wire type found.
        wire_type: u8,
    },
    /// The envelope names no kind.
    #[error("Object 'Kind' is missing in the protobuf envelope")]
    MissingKind,
    /// The envelope names a kind this schema does not know.
    #[error("no kind {kind:?} is registered for version {api_version:?}")]
    UnknownKind {
        /// The envelope's `apiVersion`.
        api_version: String,
        /// The envelope's `kind`.
        kind: String,
    },
    /// [`decode_message`] was asked for a definition the schema does not have.
    #[error("no protobuf message is known for definition {0:?}")]
    UnknownDefinition(String),
    /// The envelope's `contentEncoding` is set (upstream never sets it).
    #[error("unsupported content encoding {0:?} in the protobuf envelope")]
    ContentEncoding(String),
    /// The envelope's `contentType` is neither empty nor protobuf.
    #[error("unsupported content type {0:?} in the protobuf envelope")]
    ContentType(String),
    /// Embedded JSON (`RawExtension`, `FieldsV1`, `JSON`) does not parse.
    #[error("invalid JSON embedded in {message}: {source}")]
    EmbeddedJson {
        /// The message holding the JSON.
        message: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A value has no JSON form (a NaN double, a time outside years 0-9999).
    #[error("{0}")]
    Unrepresentable(String),
    /// Messages nest deeper than [`MAX_DEPTH`].
    #[error("protobuf message nests more than {MAX_DEPTH} levels deep")]
    TooDeep,
}
