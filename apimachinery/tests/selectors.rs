//! Label and field selectors checked against upstream apimachinery's own test cases
//! (pkg/labels/selector_test.go, pkg/fields/selector_test.go).

use std::collections::BTreeMap;

use ferrokube_apimachinery::fields::{
    FieldSelector, FieldSelectorError, escape_value, unescape_value,
};
use ferrokube_apimachinery::labels::{LabelSelectorError, Operator, Requirement, Selector};
use serde_json::json;

fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn req(key: &str, op: Operator, values: &[&str]) -> Requirement {
    Requirement::new(key, op, values.iter().map(|v| v.to_string()).collect())
        .expect("valid requirement")
}

// ----- labels: syntax -------------------------------------------------------------------------

#[test]
fn good_label_selectors_parse_and_print_back_without_spaces() {
    for s in [
        "x=a,y=b,z=c",
        "",
        "x!=a,y=b",
        "x=",
        "x= ",
        "x=,z= ",
        "x= ,z= ",
        "!x",
        "x>1",
        "x>1,z<5",
    ] {
        assert_eq!(parse(s).to_string(), s.replace(' ', ""), "{s}");
    }
}

#[test]
fn bad_label_selectors_are_rejected() {
    for s in ["x=a||y=b", "x==a==b", "!x=a", "x<a"] {
        assert!(Selector::parse(s).is_err(), "{s} should fail");
    }
}

#[test]
fn parsing_is_deterministic_whatever_the_term_order() {
    assert_eq!(parse("x=a,a=x").to_string(), parse("a=x,x=a").to_string());
    assert_eq!(parse("x=a,a=x").to_string(), "a=x,x=a");
}

#[test]
fn set_based_selectors_parse_as_upstream() {
    let cases: &[(&str, Option<Vec<Requirement>>)] = &[
        ("", Some(vec![])),
        ("\rx", Some(vec![req("x", Operator::Exists, &[])])),
        (
            "this-is-a-dns.domain.com/key-with-dash",
            Some(vec![req(
                "this-is-a-dns.domain.com/key-with-dash",
                Operator::Exists,
                &[],
            )]),
        ),
        (
            "this-is-another-dns.domain.com/key-with-dash in (so,what)",
            Some(vec![req(
                "this-is-another-dns.domain.com/key-with-dash",
                Operator::In,
                &["so", "what"],
            )]),
        ),
        (
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            Some(vec![req(
                "0.1.2.domain/99",
                Operator::NotIn,
                &["10.10.100.1", "tick.tack.clock"],
            )]),
        ),
        (
            "foo  in\t (abc)",
            Some(vec![req("foo", Operator::In, &["abc"])]),
        ),
        (
            "x notin\n (abc)",
            Some(vec![req("x", Operator::NotIn, &["abc"])]),
        ),
        (
            "x  notin\t\t(abc,def)",
            Some(vec![req("x", Operator::NotIn, &["abc", "def"])]),
        ),
        (
            "x in (abc,def)",
            Some(vec![req("x", Operator::In, &["abc", "def"])]),
        ),
        (
            "x in (abc,)",
            Some(vec![req("x", Operator::In, &["", "abc"])]),
        ),
        (
            "x in (abc,abc)",
            Some(vec![req("x", Operator::In, &["abc"])]),
        ),
        ("x in ()", Some(vec![req("x", Operator::In, &[""])])),
        ("x in (a,,)", Some(vec![req("x", Operator::In, &["", "a"])])),
        (
            "x in (a,,,)",
            Some(vec![req("x", Operator::In, &["", "a"])]),
        ),
        (
            "x in (a,,,,,,)",
            Some(vec![req("x", Operator::In, &["", "a"])]),
        ),
        (
            "x in (a,,a,,a,,a,,)",
            Some(vec![req("x", Operator::In, &["", "a"])]),
        ),
        (
            "x notin (abc,,def),bar,z in (),w",
            Some(vec![
                req("bar", Operator::Exists, &[]),
                req("w", Operator::Exists, &[]),
                req("x", Operator::NotIn, &["", "abc", "def"]),
                req("z", Operator::In, &[""]),
            ]),
        ),
        ("x=a", Some(vec![req("x", Operator::Equals, &["a"])])),
        ("x>1", Some(vec![req("x", Operator::GreaterThan, &["1"])])),
        ("x<7", Some(vec![req("x", Operator::LessThan, &["7"])])),
        (
            "x=a,y!=b,z in (h,i,j)",
            Some(vec![
                req("x", Operator::Equals, &["a"]),
                req("y", Operator::NotEquals, &["b"]),
                req("z", Operator::In, &["h", "i", "j"]),
            ]),
        ),
        ("x=a||y=b", None),
        ("x,,y", None),
        (",x,y", None),
        ("x nott in (y)", None),
        ("x notin ( )", Some(vec![req("x", Operator::NotIn, &[""])])),
        (
            "x notin (, a)",
            Some(vec![req("x", Operator::NotIn, &["", "a"])]),
        ),
        ("a in (xyz),", None),
        ("a in (xyz)b notin ()", None),
        ("a ", Some(vec![req("a", Operator::Exists, &[])])),
        (
            "a in (x,y,notin, z,in)",
            Some(vec![req(
                "a",
                Operator::In,
                &["in", "notin", "x", "y", "z"],
            )]),
        ),
        ("a in (xyz abc)", None),
        ("a notin(", None),
        ("a (", None),
        ("(", None),
    ];
    for (input, want) in cases {
        match (Selector::parse(input), want) {
            (Ok(sel), Some(reqs)) => assert_eq!(sel.requirements(), reqs.as_slice(), "{input:?}"),
            (Err(_), None) => {}
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn in_and_notin_are_plain_words_where_a_key_or_value_is_expected() {
    assert!(parse("notin=in").matches(&set(&[("notin", "in")])));
    assert_eq!(parse("in in (in)").to_string(), "in in (in)");
}

#[test]
fn syntax_errors_carry_upstream_messages() {
    let msg = |s: &str| Selector::parse(s).unwrap_err().to_string();
    assert_eq!(msg("x,,y"), "found ',', expected: identifier after ','");
    assert_eq!(
        msg(",x"),
        "found ',', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(msg("!x=a"), "found '=', expected: ',' or 'end of string'");
    assert_eq!(
        msg("a in (xyz),"),
        "found '', expected: identifier after ','"
    );
    assert_eq!(
        msg("x nott in (y)"),
        "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        msg("a notin("),
        "unable to parse requirement: found '', expected: ',', ')' or identifier"
    );
    assert_eq!(
        msg("a in (xyz abc)"),
        "unable to parse requirement: found 'abc', expected: ',' or ')'"
    );
    assert_eq!(
        msg("x in a"),
        "unable to parse requirement: found 'a' expected: '('"
    );
    assert_eq!(
        msg("x==a==b"),
        "found '==', expected: ',' or 'end of string'"
    );
}

#[test]
fn an_invalid_key_is_reported_with_a_nil_path_like_upstream() {
    let err = Selector::parse("a/b/c=d").unwrap_err().to_string();
    assert_eq!(
        err,
        "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric \
         characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or \
         'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an \
         optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    );
}

#[test]
fn an_invalid_value_is_reported_at_its_indexed_path() {
    let err = Selector::parse("x=a@b").unwrap_err().to_string();
    assert!(
        err.starts_with("unable to parse requirement: values[0][x]: Invalid value: \"a@b\": a valid label must be an empty string"),
        "{err}"
    );
}

#[test]
fn gt_and_lt_need_integers() {
    let err = Selector::parse("x<a").unwrap_err();
    assert!(
        matches!(&err, LabelSelectorError::ParseRequirement(_)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"),
        "{err}"
    );
}

// ----- labels: matching -----------------------------------------------------------------------

#[test]
fn selectors_match_label_sets_as_upstream() {
    let yes =
        |s: &str, l: &[(&str, &str)]| assert!(parse(s).matches(&set(l)), "{s} should match {l:?}");
    let no = |s: &str, l: &[(&str, &str)]| {
        assert!(!parse(s).matches(&set(l)), "{s} should not match {l:?}")
    };
    yes("", &[("x", "y")]);
    yes("x=y", &[("x", "y")]);
    yes("x=y,z=w", &[("x", "y"), ("z", "w")]);
    yes("x!=y,z!=w", &[("x", "z"), ("z", "a")]);
    yes("notin=in", &[("notin", "in")]);
    yes("x", &[("x", "z")]);
    yes("!x", &[("y", "z")]);
    yes("x>1", &[("x", "2")]);
    yes("x<1", &[("x", "0")]);
    no("x=z", &[]);
    no("x=y", &[("x", "z")]);
    no("x=y,z=w", &[("x", "w"), ("z", "w")]);
    no("x!=y,z!=w", &[("x", "z"), ("z", "w")]);
    no("x", &[("y", "z")]);
    no("!x", &[("x", "z")]);
    no("x>1", &[("x", "0")]);
    no("x<1", &[("x", "2")]);
    no("x>1", &[("x", "v2")]);
    no("x>1", &[]);

    let labels = [("foo", "bar"), ("baz", "blah")];
    yes("foo=bar", &labels);
    yes("baz=blah", &labels);
    yes("foo=bar,baz=blah", &labels);
    no("foo=blah", &labels);
    no("baz=bar", &labels);
    no("foo=bar,foobar=bar,baz=blah", &labels);
}

#[test]
fn notin_and_not_equals_match_when_the_key_is_absent() {
    assert!(parse("x notin (a)").matches(&set(&[("y", "")])));
    assert!(parse("x!=a").matches(&set(&[])));
    assert!(!parse("x in (a)").matches(&set(&[])));
    assert!(parse("x notin (),y").matches(&set(&[("y", "")])));
    assert!(!parse("x notin (),!y").matches(&set(&[("y", "")])));
    assert!(!parse("x in ()").matches(&set(&[("y", "baz")])));
}

#[test]
fn requirements_print_in_canonical_form() {
    let sel = Selector::everything().add_requirements([
        req("x", Operator::In, &["def", "abc"]),
        req("y", Operator::NotIn, &["jkl"]),
        req("z", Operator::Exists, &[]),
    ]);
    assert_eq!(sel.to_string(), "x in (abc,def),y notin (jkl),z");
    let sel = Selector::everything().add_requirements([
        req("x", Operator::NotIn, &["abc", "def"]),
        req("y", Operator::NotEquals, &["jkl"]),
        req("z", Operator::DoesNotExist, &[]),
    ]);
    assert_eq!(sel.to_string(), "x notin (abc,def),y!=jkl,!z");
    let sel = Selector::everything().add_requirements([
        req("x", Operator::Equals, &["abc"]),
        req("y", Operator::DoubleEquals, &["jkl"]),
        req("z", Operator::NotEquals, &["a"]),
        req("z", Operator::Exists, &[]),
    ]);
    assert_eq!(sel.to_string(), "x=abc,y==jkl,z!=a,z");
    let sel = Selector::everything().add_requirements([
        req("x", Operator::GreaterThan, &["2"]),
        req("y", Operator::LessThan, &["8"]),
    ]);
    assert_eq!(sel.to_string(), "x>2,y<8");
}

#[test]
fn requirement_construction_validates_like_upstream() {
    let err = |key: &str, op: Operator, vals: &[&str]| {
        Requirement::new(key, op, vals.iter().map(|v| v.to_string()).collect())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("x1", Operator::In, &[]),
        "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        err("x5", Operator::Equals, &["bar", "foo"]),
        "values: Invalid value: []string{\"bar\", \"foo\"}: exact-match compatibility requires one single value"
    );
    assert_eq!(
        err("x8", Operator::Exists, &["foo"]),
        "values: Invalid value: []string{\"foo\"}: values set must be empty for exists and does not exist"
    );
    assert_eq!(
        err("x13", Operator::GreaterThan, &[]),
        "values: Invalid value: []string{}: for 'Gt', 'Lt' operators, exactly one value is required"
    );
    assert!(err(&"a".repeat(254), Operator::Exists, &[]).starts_with("key: Invalid value: "));
    assert!(
        err("x16", Operator::Equals, &[&"a".repeat(254)])
            .starts_with("values[0][x16]: Invalid value: ")
    );
    assert!(
        err("x17", Operator::Equals, &["a b"])
            .starts_with("values[0][x17]: Invalid value: \"a b\"")
    );
    for ok in [
        ("x3", Operator::In, &["foo"][..]),
        ("x4", Operator::NotIn, &["foo"]),
        ("x6", Operator::Exists, &[]),
        ("x7", Operator::DoesNotExist, &[]),
        ("x11", Operator::GreaterThan, &["1"]),
        ("x12", Operator::LessThan, &["6"]),
    ] {
        assert!(
            Requirement::new(ok.0, ok.1, ok.2.iter().map(|v| v.to_string()).collect()).is_ok(),
            "{ok:?}"
        );
    }
}

#[test]
fn exact_match_is_reported_for_equals_and_single_value_in() {
    assert_eq!(parse("a=b,c in (d)").requires_exact_match("a"), Some("b"));
    assert_eq!(parse("a=b,c in (d)").requires_exact_match("c"), Some("d"));
    assert_eq!(parse("c in (d,e)").requires_exact_match("c"), None);
    assert_eq!(parse("c!=d").requires_exact_match("c"), None);
}

// ----- labels: metav1.LabelSelector ----------------------------------------------------------

#[test]
fn a_null_label_selector_matches_nothing_and_an_empty_one_everything() {
    let null = Selector::from_label_selector(&serde_json::Value::Null).unwrap();
    assert!(null.matches_nothing());
    assert!(!null.matches(&set(&[])));
    assert_eq!(null.to_string(), "");
    let empty = Selector::from_label_selector(&json!({})).unwrap();
    assert!(empty.is_empty());
    assert!(empty.matches(&set(&[("a", "b")])));
    let empty_lists =
        Selector::from_label_selector(&json!({"matchLabels": {}, "matchExpressions": []})).unwrap();
    assert!(empty_lists.is_empty());
}

#[test]
fn a_label_selector_combines_match_labels_and_expressions() {
    let sel = Selector::from_label_selector(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "edge"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "owner", "operator": "Exists"}
        ]
    }))
    .unwrap();
    assert_eq!(
        sel.to_string(),
        "app=web,!canary,env notin (dev),owner,tier in (edge,front)"
    );
    assert!(sel.matches(&set(&[("app", "web"), ("tier", "edge"), ("owner", "x")])));
    assert!(!sel.matches(&set(&[
        ("app", "web"),
        ("tier", "edge"),
        ("owner", "x"),
        ("canary", "1")
    ])));
    assert!(!sel.matches(&set(&[
        ("app", "web"),
        ("tier", "edge"),
        ("owner", "x"),
        ("env", "dev")
    ])));
}

#[test]
fn gt_and_lt_are_not_label_selector_operators() {
    for op in ["Gt", "Lt", "in", "Bogus"] {
        let err = Selector::from_label_selector(&json!({
            "matchExpressions": [{"key": "a", "operator": op, "values": ["1"]}]
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("\"{op}\" is not a valid label selector operator")
        );
    }
}

#[test]
fn a_label_selector_in_with_no_values_is_an_error() {
    let err = Selector::from_label_selector(&json!({
        "matchExpressions": [{"key": "a", "operator": "In", "values": []}]
    }))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
    );
}

#[test]
fn a_selector_from_a_set_requires_every_pair() {
    let sel = Selector::from_set(&set(&[("foo", "bar"), ("baz", "blah")]));
    assert_eq!(sel.to_string(), "baz=blah,foo=bar");
    assert!(sel.matches(&set(&[("foo", "bar"), ("baz", "blah"), ("x", "y")])));
    assert!(!sel.matches(&set(&[("foo", "bar")])));
    assert!(Selector::from_set(&set(&[])).is_empty());
}

// ----- fields ---------------------------------------------------------------------------------

fn fparse(s: &str) -> FieldSelector {
    FieldSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

#[test]
fn good_field_selectors_round_trip() {
    for s in ["x=a,y=b,z=c", "", "x!=a,y=b", r"x=a||y\=b", r"x=a\=\=b"] {
        assert_eq!(fparse(s).to_string(), s);
    }
}

#[test]
fn bad_field_selectors_are_rejected() {
    for s in [
        "x=a||y=b",
        "x==a==b",
        "x=a,b",
        "x in (a)",
        "x in (a,b,c)",
        "x",
    ] {
        assert!(FieldSelector::parse(s).is_err(), "{s} should fail");
    }
}

#[test]
fn field_selector_errors_carry_upstream_messages() {
    let msg = |s: &str| FieldSelector::parse(s).unwrap_err().to_string();
    assert_eq!(
        msg("x=a,b"),
        "invalid selector: 'x=a,b'; can't understand 'b'"
    );
    assert_eq!(msg("x"), "invalid selector: 'x'; can't understand 'x'");
    assert_eq!(
        msg("x==a==b"),
        "invalid field selector: unescaped character in value: 61"
    );
    assert_eq!(
        msg(r"x=a\b"),
        r"invalid field selector: invalid escape sequence: \b"
    );
    assert_eq!(
        msg(r"x=a\"),
        r"invalid field selector: invalid escape sequence: \"
    );
}

#[test]
fn double_equals_prints_as_single_equals_and_terms_sort() {
    assert_eq!(fparse("x==a,a=x").to_string(), "a=x,x=a");
    assert_eq!(fparse("x=a,a=x").to_string(), fparse("a=x,x=a").to_string());
}

#[test]
fn field_selectors_match_field_sets() {
    let fields = set(&[("foo", "bar"), ("baz", "blah"), ("complex", r"=value\,\")]);
    assert!(fparse("").matches_fields(&set(&[("x", "y")])));
    assert!(fparse("x=y,z=w").matches_fields(&set(&[("x", "y"), ("z", "w")])));
    assert!(fparse("x!=y,z!=w").matches_fields(&set(&[("x", "z"), ("z", "a")])));
    assert!(fparse("notin=in").matches_fields(&set(&[("notin", "in")])));
    assert!(!fparse("x=y").matches_fields(&set(&[("x", "z")])));
    assert!(!fparse("x!=y,z!=w").matches_fields(&set(&[("x", "z"), ("z", "w")])));
    assert!(fparse("foo=bar,baz=blah").matches_fields(&fields));
    assert!(fparse(r"foo=bar,baz=blah,complex=\=value\\\,\\").matches_fields(&fields));
    assert!(!fparse("foo=bar,foobar=bar,baz=blah").matches_fields(&fields));
}

#[test]
fn an_absent_field_reads_as_empty() {
    let get = |f: &str| (f == "spec.nodeName").then(|| "node-1".to_string());
    assert!(fparse("spec.nodeName=node-1").matches(&get));
    assert!(fparse("status.phase!=Running").matches(&get));
    assert!(fparse("status.phase=").matches(&get));
    assert!(!fparse("spec.nodeName=").matches(&get));
}

#[test]
fn values_escape_and_unescape() {
    for (plain, escaped) in [
        ("", ""),
        ("a", "a"),
        ("=", r"\="),
        (",", r"\,"),
        (r"\", r"\\"),
        (r"\=\,\", r"\\\=\\\,\\"),
    ] {
        assert_eq!(escape_value(plain), escaped);
        assert_eq!(unescape_value(escaped).unwrap(), plain);
    }
    for bad in [r"\", r"\\\", r"\a"] {
        assert!(
            matches!(
                unescape_value(bad),
                Err(FieldSelectorError::InvalidEscapeSequence(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn unsupported_fields_are_named_in_the_error() {
    let sel = fparse("metadata.name=a,spec.bogus=b");
    assert_eq!(
        sel.field_names().into_iter().collect::<Vec<_>>(),
        ["metadata.name", "spec.bogus"]
    );
    assert_eq!(
        sel.check_supported(&["metadata.name", "metadata.namespace"])
            .unwrap_err()
            .to_string(),
        "field label not supported: spec.bogus"
    );
    assert!(
        sel.check_supported(&["metadata.name", "spec.bogus"])
            .is_ok()
    );
}

#[test]
fn transform_rewrites_and_drops_terms() {
    let sel = fparse("a=b,c=d,e=f")
        .transform(|f, v| -> Result<_, ()> {
            if f == "c" {
                Ok((String::new(), String::new()))
            } else {
                Ok((f.to_string(), v.to_string()))
            }
        })
        .unwrap();
    assert_eq!(sel.to_string(), "a=b,e=f");
    assert!(
        fparse("a=b")
            .transform(|_, _| Ok::<_, ()>((String::new(), String::new())))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn field_exact_match_ignores_not_equals() {
    assert_eq!(fparse("test=b").requires_exact_match("test"), Some("b"));
    assert_eq!(fparse("test=").requires_exact_match("test"), Some(""));
    assert_eq!(fparse("test!=b").requires_exact_match("test"), None);
    assert_eq!(fparse("a=b").requires_exact_match("test"), None);
}

#[test]
fn label_selectors_in_objects_are_validated_with_field_paths() {
    use ferrokube_apimachinery::labels::validate_label_selector;
    use ferrokube_apimachinery::validation::FieldPath;
    let path = FieldPath::new("spec").child("selector");
    let errs = validate_label_selector(
        &json!({
            "matchLabels": {"app": "-web"},
            "matchExpressions": [
                {"key": "a", "operator": "In", "values": []},
                {"key": "b", "operator": "Exists", "values": ["x"]},
                {"key": "c", "operator": "Gt", "values": ["1"]}
            ]
        }),
        &path,
    );
    let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        msgs[0].starts_with("spec.selector.matchLabels: Invalid value: \"-web\": "),
        "{}",
        msgs[0]
    );
    assert_eq!(
        msgs[1..],
        [
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            "spec.selector.matchExpressions[2].operator: Invalid value: \"Gt\": not a valid selector operator",
        ]
    );
    assert!(validate_label_selector(&serde_json::Value::Null, &path).is_empty());
}

#[test]
fn a_nul_byte_ends_the_selector_as_in_upstream() {
    assert_eq!(parse("a=b\0,garbage((").to_string(), "a=b");
}
