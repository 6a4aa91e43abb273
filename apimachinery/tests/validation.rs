//! Name, label, network and ObjectMeta validation checked against upstream apimachinery's
//! test cases (pkg/util/validation/validation_test.go, ip_test.go, pkg/api/validation).

use ferrokube_apimachinery::validation::{
    FieldError, FieldErrorKind, aggregate_message, is_dns1035_label, is_dns1123_label,
    is_dns1123_subdomain, is_qualified_name, is_valid_cidr, is_valid_ip, is_valid_label_value,
    is_valid_port_name, is_valid_port_num, name_is_dns_label, name_is_dns_subdomain,
    validate_object_meta, validate_object_meta_update,
};
use serde_json::json;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

// ----- names ----------------------------------------------------------------------------------

#[test]
fn rfc1123_labels_accept_and_reject_upstream_cases() {
    let long_ok = "a".repeat(63);
    for v in [
        "a",
        "ab",
        "abc",
        "a1",
        "a-1",
        "a--1--2--b",
        "0",
        "01",
        "012",
        "1a",
        "1-a",
        "1--a--b--2",
        &long_ok,
    ] {
        assert!(is_dns1123_label(v).is_empty(), "{v}");
    }
    let long_bad = "a".repeat(64);
    for v in [
        "", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1", "_", "a_", "_a",
        "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a.b", "1.", ".1", "1.2", " ", "a ", " a",
        "a b", "1 ", " 1", "1 2", &long_bad,
    ] {
        assert!(!is_dns1123_label(v).is_empty(), "{v:?}");
    }
}

#[test]
fn a_dotted_name_is_told_it_must_not_contain_dots() {
    assert_eq!(is_dns1123_label("a.b"), ["must not contain dots"]);
    assert_eq!(
        is_dns1123_label("A"),
        [
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ]
    );
}

#[test]
fn rfc1123_subdomains_accept_and_reject_upstream_cases() {
    let long_ok = "a".repeat(253);
    for v in [
        "a",
        "ab",
        "abc",
        "a1",
        "a-1",
        "a--1--2--b",
        "0",
        "01",
        "012",
        "1a",
        "1-a",
        "1--a--b--2",
        "a.a",
        "ab.a",
        "abc.a",
        "a1.a",
        "a-1.a",
        "a--1--2--b.a",
        "a.1",
        "ab.1",
        "abc.1",
        "a1.1",
        "a-1.1",
        "a--1--2--b.1",
        "0.a",
        "01.a",
        "012.a",
        "1a.a",
        "1-a.a",
        "0.1",
        "01.1",
        "012.1",
        "1a.1",
        "1-a.1",
        "1--a--b--2.1",
        "a.b.c.d.e",
        "aa.bb.cc.dd.ee",
        "1.2.3.4.5",
        "11.22.33.44.55",
        &long_ok,
    ] {
        assert!(is_dns1123_subdomain(v).is_empty(), "{v}");
    }
    let long_bad = "a".repeat(254);
    for v in [
        "",
        "A",
        "ABC",
        "aBc",
        "A1",
        "A-1",
        "1-A",
        "-",
        "a-",
        "-a",
        "1-",
        "-1",
        "_",
        "a_",
        "_a",
        "a_b",
        "1_",
        "_1",
        "1_2",
        ".",
        "a.",
        ".a",
        "a..b",
        "1.",
        ".1",
        "1..2",
        " ",
        "a ",
        " a",
        "a b",
        "1 ",
        " 1",
        "1 2",
        "A.a",
        "aB.a",
        "ab.A",
        "A1.a",
        "a1.A",
        "A.1",
        "aB.1",
        "A1.1",
        "1A.1",
        "0.A",
        "01.A",
        "012.A",
        "1A.a",
        "1a.A",
        "A.B.C.D.E",
        "AA.BB.CC.DD.EE",
        "a.B.c.d.e",
        "aa.bB.cc.dd.ee",
        "a@b",
        "a,b",
        "a_b",
        "a;b",
        "a:b",
        "a%b",
        "a?b",
        "a$b",
        &long_bad,
    ] {
        assert!(!is_dns1123_subdomain(v).is_empty(), "{v:?}");
    }
    assert_eq!(
        is_dns1123_subdomain(&long_bad),
        ["must be no more than 253 characters"]
    );
}

#[test]
fn rfc1035_labels_must_start_with_a_letter() {
    for v in ["a", "ab", "abc", "a1", "a-1", "a--1--2--b"] {
        assert!(is_dns1035_label(v).is_empty(), "{v}");
    }
    for v in ["0", "01", "1a", "A", "a-", "-a", "a.b", ""] {
        assert!(!is_dns1035_label(v).is_empty(), "{v}");
    }
}

#[test]
fn qualified_names_accept_and_reject_upstream_cases() {
    let long_ok = "a".repeat(63);
    let long_prefix = format!("{}/{}", "a".repeat(253), "b".repeat(63));
    for v in [
        "simple",
        "now-with-dashes",
        "1-starts-with-num",
        "1234",
        "simple/simple",
        "now-with-dashes/simple",
        "now-with-dashes/now-with-dashes",
        "now.with.dots/simple",
        "now-with.dashes-and.dots/simple",
        "1-num.2-num/3-num",
        "1234/5678",
        "1.2.3.4/5678",
        "Uppercase_Is_OK_123",
        "example.com/Uppercase_Is_OK_123",
        "requests.storage-foo",
        &long_ok,
        &long_prefix,
    ] {
        assert!(is_qualified_name(v).is_empty(), "{v}");
    }
    let long_bad = "a".repeat(64);
    let long_bad_prefix = format!("{}/abc", "a".repeat(254));
    for v in [
        "nospecialchars%^=@",
        "cantendwithadash-",
        "-cantstartwithadash-",
        "only/one/slash",
        "Example.com/abc",
        "example_com/abc",
        "example.com/",
        "/simple",
        &long_bad,
        &long_bad_prefix,
    ] {
        assert!(!is_qualified_name(v).is_empty(), "{v}");
    }
    assert_eq!(
        is_qualified_name("/simple"),
        ["prefix part must be non-empty"]
    );
    assert_eq!(
        is_qualified_name("example.com/")[0],
        "name part must be non-empty"
    );
}

#[test]
fn label_values_accept_and_reject_upstream_cases() {
    let long_ok = "a".repeat(63);
    for v in [
        "simple",
        "now-with-dashes",
        "1-starts-with-num",
        "end-with-num-1",
        "1234",
        &long_ok,
        "",
    ] {
        assert!(is_valid_label_value(v).is_empty(), "{v}");
    }
    let long_bad = "a".repeat(64);
    for v in [
        "nospecialchars%^=@",
        "Tama-nui-te-rā.is.Māori.sun",
        "\\backslashes\\are\\bad",
        "-starts-with-dash",
        "ends-with-dash-",
        ".starts.with.dot",
        "ends.with.dot.",
        &long_bad,
    ] {
        assert!(!is_valid_label_value(v).is_empty(), "{v}");
    }
}

#[test]
fn port_names_and_numbers_follow_upstream() {
    for v in [
        "telnet",
        "re-mail-ck",
        "pop3",
        "a",
        "a-1",
        "1-a",
        "a-1-b-2-c",
        "1-a-2-b-3",
    ] {
        assert!(is_valid_port_name(v).is_empty(), "{v}");
    }
    let sixteen = "a".repeat(16);
    for v in [
        "longerthan15characters",
        "",
        &sixteen,
        "12345",
        "1-2-3-4",
        "-begin",
        "end-",
        "two--hyphens",
        "whois++",
    ] {
        assert!(!is_valid_port_name(v).is_empty(), "{v}");
    }
    assert!(is_valid_port_num(1).is_empty());
    assert!(is_valid_port_num(65535).is_empty());
    assert_eq!(
        is_valid_port_num(0),
        ["must be between 1 and 65535, inclusive"]
    );
    assert_eq!(
        is_valid_port_num(65536),
        ["must be between 1 and 65535, inclusive"]
    );
}

// ----- IPs and CIDRs --------------------------------------------------------------------------

fn ip_detail(v: &str) -> Option<String> {
    is_valid_ip("f", v).first().map(|e| e.detail.clone())
}

fn cidr_detail(v: &str) -> Option<String> {
    is_valid_cidr("f", v).first().map(|e| e.detail.clone())
}

#[test]
fn ips_are_checked_strictly() {
    for ok in [
        "1.2.3.4",
        "0.0.0.0",
        "255.255.255.255",
        "1234::abcd",
        "::",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ] {
        assert_eq!(ip_detail(ok), None, "{ok}");
    }
    assert_eq!(
        ip_detail("0:0:0:0:0:0:0:0").unwrap(),
        r#"must be in canonical form ("::")"#
    );
    assert_eq!(
        ip_detail("0001:002:03:4::").unwrap(),
        r#"must be in canonical form ("1:2:3:4::")"#
    );
    assert_eq!(
        ip_detail("1234::ABCD").unwrap(),
        r#"must be in canonical form ("1234::abcd")"#
    );
    assert_eq!(ip_detail("1.1.1.01").unwrap(), "must not have leading 0s");
    assert_eq!(
        ip_detail("::ffff:1.1.1.1").unwrap(),
        "must not be an IPv4-mapped IPv6 address"
    );
    for bad in [
        "",
        "aaaaaaa",
        "myhost.mydomain",
        "1.2.3.0/24",
        "1.2.3.400",
        "-1.0.0.0",
        "2001:db8::10005",
        "1.2.3.4:80",
        "[2001:db8::1]",
        "[2001:db8::1]:80",
        "example.com:80",
        "1234::abcd%eth0",
        "169.254.0.0%eth0",
    ] {
        assert_eq!(
            ip_detail(bad).as_deref(),
            Some("must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"),
            "{bad:?}"
        );
    }
}

#[test]
fn cidrs_are_checked_strictly() {
    for ok in [
        "1.2.3.0/24",
        "0.0.0.0/0",
        "1.2.3.4/32",
        "2001:db8::/64",
        "::/0",
        "::1/128",
    ] {
        assert_eq!(cidr_detail(ok), None, "{ok}");
    }
    assert_eq!(
        cidr_detail("1.2.3.4/24").unwrap(),
        "must not have bits set beyond the prefix length"
    );
    assert_eq!(
        cidr_detail("1.2.3.0/024").unwrap(),
        "must not have leading 0s in IP or prefix length"
    );
    assert_eq!(
        cidr_detail("01.2.3.0/24").unwrap(),
        "must not have leading 0s in IP or prefix length"
    );
    assert_eq!(
        cidr_detail("::ffff:1.2.3.0/120").unwrap(),
        "must not have an IPv4-mapped IPv6 address"
    );
    assert_eq!(
        cidr_detail("2001:DB8::/64").unwrap(),
        r#"must be in canonical form ("2001:db8::/64")"#
    );
    for bad in [
        "",
        "1.2.3.4",
        "1.2.3.0/33",
        "2001:db8::/129",
        "1.2.3.0/",
        "1.2.3.0/a",
        "foo/24",
    ] {
        assert_eq!(
            cidr_detail(bad).as_deref(),
            Some("must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"),
            "{bad:?}"
        );
    }
}

// ----- field errors ---------------------------------------------------------------------------

#[test]
fn field_errors_print_like_upstream() {
    let e = FieldError::invalid("metadata.name", "Foo", SUBDOMAIN_MSG);
    assert_eq!(
        e.to_string(),
        format!("metadata.name: Invalid value: \"Foo\": {SUBDOMAIN_MSG}")
    );
    assert_eq!(e.reason(), "FieldValueInvalid");
    assert_eq!(
        FieldError::required("metadata.name", "name or generateName is required").to_string(),
        "metadata.name: Required value: name or generateName is required"
    );
    assert_eq!(
        FieldError::required("metadata.namespace", "").to_string(),
        "metadata.namespace: Required value"
    );
    assert_eq!(
        FieldError::forbidden("metadata.namespace", "not allowed on this type").to_string(),
        "metadata.namespace: Forbidden: not allowed on this type"
    );
    assert_eq!(
        FieldError::too_long("metadata.annotations", 262144).to_string(),
        "metadata.annotations: Too long: may not be more than 262144 bytes"
    );
    assert_eq!(
        FieldError::not_supported(
            "spec.restartPolicy",
            "Sometimes",
            &["Always", "OnFailure", "Never"]
        )
        .to_string(),
        "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
    );
    assert_eq!(
        FieldError::duplicate("spec.ports[1]", json!(80)).to_string(),
        "spec.ports[1]: Duplicate value: 80"
    );
    assert_eq!(
        FieldError::invalid("spec.x", true, "bad").to_string(),
        "spec.x: Invalid value: true: bad"
    );
    assert_eq!(
        FieldError::invalid("spec.x", json!({"a": "<b>"}), "bad").to_string(),
        "spec.x: Invalid value: {\"a\":\"\\u003cb\\u003e\"}: bad"
    );
    assert_eq!(
        FieldError::invalid("spec.x", "tab\there", "").to_string(),
        "spec.x: Invalid value: \"tab\\there\""
    );
    assert_eq!(FieldError::required("a", "").kind, FieldErrorKind::Required);
    assert_eq!(FieldError::required("a", "").reason(), "FieldValueRequired");
    assert_eq!(
        FieldError::too_many("a", Some(5), 4).to_string(),
        "a: Too many: 5: must have at most 4 items"
    );
}

#[test]
fn the_invalid_message_names_the_kind_and_object() {
    let one = [FieldError::invalid("metadata.name", "Foo", SUBDOMAIN_MSG)];
    assert_eq!(
        aggregate_message("Pod", "Foo", &one),
        format!("Pod \"Foo\" is invalid: metadata.name: Invalid value: \"Foo\": {SUBDOMAIN_MSG}")
    );
    let two = [
        FieldError::required("spec.containers", ""),
        FieldError::required("spec.containers", ""),
        FieldError::invalid("metadata.labels", "-x", "bad"),
    ];
    assert_eq!(
        aggregate_message("Deployment.apps", "web", &two),
        "Deployment.apps \"web\" is invalid: [spec.containers: Required value, metadata.labels: Invalid value: \"-x\": bad]"
    );
    assert_eq!(aggregate_message("Pod", "x", &[]), "Pod \"x\" is invalid");
}

// ----- ObjectMeta -----------------------------------------------------------------------------

fn messages(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

#[test]
fn a_valid_object_meta_has_no_errors() {
    let meta = json!({
        "name": "web-1", "namespace": "default",
        "labels": {"app": "web", "example.com/tier": ""},
        "annotations": {"Example.com/Note": "anything at all"},
        "finalizers": ["example.com/cleanup"],
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "123", "controller": true}],
        "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1"}]
    });
    assert!(validate_object_meta(&meta, true, &name_is_dns_subdomain).is_empty());
}

#[test]
fn an_uppercase_name_is_invalid() {
    let errs = validate_object_meta(
        &json!({"name": "Foo", "namespace": "default"}),
        true,
        &name_is_dns_subdomain,
    );
    assert_eq!(
        messages(&errs),
        [format!(
            "metadata.name: Invalid value: \"Foo\": {SUBDOMAIN_MSG}"
        )]
    );
}

#[test]
fn a_name_or_generate_name_is_required() {
    let errs = validate_object_meta(
        &json!({"namespace": "default"}),
        true,
        &name_is_dns_subdomain,
    );
    assert_eq!(
        messages(&errs),
        ["metadata.name: Required value: name or generateName is required"]
    );
}

#[test]
fn generate_name_is_validated_with_its_trailing_dash_masked() {
    let ok = json!({"generateName": "web-", "name": "web-x7k2p", "namespace": "ns"});
    assert!(validate_object_meta(&ok, true, &name_is_dns_subdomain).is_empty());
    let bad = json!({"generateName": "Web-", "name": "web-x7k2p", "namespace": "ns"});
    let errs = validate_object_meta(&bad, true, &name_is_dns_subdomain);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "metadata.generateName");
    assert_eq!(errs[0].value, Some(json!("Web-")));
}

#[test]
fn namespace_is_required_when_namespaced_and_forbidden_otherwise() {
    let errs = validate_object_meta(&json!({"name": "a"}), true, &name_is_dns_subdomain);
    assert_eq!(messages(&errs), ["metadata.namespace: Required value"]);
    let errs = validate_object_meta(
        &json!({"name": "a", "namespace": "x"}),
        false,
        &name_is_dns_label,
    );
    assert_eq!(
        messages(&errs),
        ["metadata.namespace: Forbidden: not allowed on this type"]
    );
    let errs = validate_object_meta(
        &json!({"name": "a", "namespace": "Bad_NS"}),
        true,
        &name_is_dns_subdomain,
    );
    assert_eq!(errs[0].field, "metadata.namespace");
    assert_eq!(errs[0].kind, FieldErrorKind::Invalid);
}

#[test]
fn bad_label_keys_and_values_are_reported_at_metadata_labels() {
    let meta = json!({"name": "a", "namespace": "n", "labels": {"-bad": "ok", "good": "-bad-"}});
    let errs = validate_object_meta(&meta, true, &name_is_dns_subdomain);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs.iter().all(|e| e.field == "metadata.labels"));
    assert_eq!(errs[0].value, Some(json!("-bad")));
    assert_eq!(errs[1].value, Some(json!("-bad-")));
}

#[test]
fn annotations_over_256_kib_are_too_long() {
    let big = "x".repeat(256 * 1024);
    let meta = json!({"name": "a", "namespace": "n", "annotations": {"k": big}});
    let errs = validate_object_meta(&meta, true, &name_is_dns_subdomain);
    assert_eq!(
        messages(&errs),
        ["metadata.annotations: Too long: may not be more than 262144 bytes"]
    );
    let fits =
        json!({"name": "a", "namespace": "n", "annotations": {"k": "x".repeat(256 * 1024 - 1)}});
    assert!(validate_object_meta(&fits, true, &name_is_dns_subdomain).is_empty());
}

#[test]
fn owner_references_need_their_identity_and_one_controller() {
    let meta = json!({"name": "a", "namespace": "n", "ownerReferences": [
        {"apiVersion": "", "kind": "", "name": "", "uid": ""},
        {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "1"},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r1", "uid": "2", "controller": true},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r2", "uid": "3", "controller": true}
    ]});
    let errs = validate_object_meta(&meta, true, &name_is_dns_subdomain);
    let msgs = messages(&errs);
    assert_eq!(
        msgs[0],
        "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty"
    );
    assert_eq!(
        msgs[1],
        "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty"
    );
    assert_eq!(
        msgs[2],
        "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty"
    );
    assert_eq!(
        msgs[3],
        "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty"
    );
    assert!(
        msgs[4].ends_with(": /v1, Kind=Event is disallowed from being an owner"),
        "{}",
        msgs[4]
    );
    assert!(
        msgs[5].ends_with(
            ": Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/r1 and ReplicaSet/r2"
        ),
        "{}",
        msgs[5]
    );
    assert_eq!(msgs.len(), 6);
}

#[test]
fn finalizers_must_be_qualified_names_and_not_both_orphan_and_foreground() {
    let meta = json!({"name": "a", "namespace": "n", "finalizers": ["orphan", "foregroundDeletion", "a/b/c"]});
    let errs = validate_object_meta(&meta, true, &name_is_dns_subdomain);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].value, Some(json!("a/b/c")));
    assert_eq!(
        errs[1].to_string(),
        "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\", \"a/b/c\"}: finalizer orphan and foregroundDeletion cannot be both set"
    );
}

#[test]
fn a_negative_generation_is_invalid() {
    let errs = validate_object_meta(
        &json!({"name": "a", "generation": -1}),
        false,
        &name_is_dns_subdomain,
    );
    assert_eq!(
        messages(&errs),
        ["metadata.generation: Invalid value: -1: must be greater than or equal to 0"]
    );
}

#[test]
fn managed_fields_need_a_known_operation() {
    let meta = json!({"name": "a", "managedFields": [{"manager": "m", "operation": "Patch", "fieldsType": "FieldsV2"}]});
    let errs = validate_object_meta(&meta, false, &name_is_dns_subdomain);
    assert_eq!(
        messages(&errs),
        [
            "metadata.managedFields[0].operation: Invalid value: \"Patch\": must be `Apply` or `Update`",
            "metadata.managedFields[0].fieldsType: Invalid value: \"FieldsV2\": must be `FieldsV1`",
        ]
    );
}

#[test]
fn updates_keep_identity_fields_immutable() {
    let old = json!({"name": "a", "namespace": "n", "uid": "u1", "resourceVersion": "5", "generation": 3});
    let new = json!({"name": "b", "namespace": "n", "uid": "u1", "resourceVersion": "5", "generation": 2});
    let msgs = messages(&validate_object_meta_update(&new, &old));
    assert_eq!(
        msgs,
        [
            "metadata.generation: Invalid value: 2: must not be decremented",
            "metadata.name: Invalid value: \"b\": field is immutable",
        ]
    );
}

#[test]
fn an_update_needs_a_resource_version() {
    let old = json!({"name": "a", "resourceVersion": "5"});
    let new = json!({"name": "a"});
    assert_eq!(
        messages(&validate_object_meta_update(&new, &old)),
        ["metadata.resourceVersion: Invalid value: \"\": must be specified for an update"]
    );
}

#[test]
fn no_finalizer_can_be_added_while_deleting() {
    let old = json!({"name": "a", "resourceVersion": "5", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["x/a"]});
    let new = json!({"name": "a", "resourceVersion": "5", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["x/a", "x/b"]});
    assert_eq!(
        messages(&validate_object_meta_update(&new, &old)),
        [
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"x/b\"}"
        ]
    );
}

#[test]
fn an_ipv4_compatible_ipv6_address_prints_in_hex_like_go() {
    assert_eq!(ip_detail("::102:304"), None);
    assert_eq!(
        ip_detail("::1.2.3.4").unwrap(),
        r#"must be in canonical form ("::102:304")"#
    );
    assert_eq!(
        ip_detail("::ffff:1.2.3.04").unwrap(),
        "must not have leading 0s"
    );
}

#[test]
fn ipv6_canonical_form_compresses_the_first_longest_zero_run() {
    assert_eq!(
        ip_detail("1:0:0:1:0:0:0:1").unwrap(),
        r#"must be in canonical form ("1:0:0:1::1")"#
    );
    assert_eq!(
        ip_detail("1:0:0:2:0:0:3:4").unwrap(),
        r#"must be in canonical form ("1::2:0:0:3:4")"#
    );
    assert_eq!(ip_detail("1:0:2:3:4:5:6:7"), None);
}
