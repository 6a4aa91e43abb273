//! Detached JWS signatures (RFC 7515 appendix F) with HS256 keyed by a bootstrap token, as
//! upstream's `cluster-bootstrap/token/jws`: the cluster-info ConfigMap carries one per signing
//! token under `jws-kubeconfig-<id>`, and a joining machine that knows the token checks it.
//! Pure functions.

use base64::Engine;
use ring::hmac;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The HMAC key: the token secret, zero-padded to 32 bytes as upstream pads it.
fn key(token_secret: &str) -> hmac::Key {
    let mut bytes = token_secret.as_bytes().to_vec();
    if bytes.len() < 32 {
        bytes.resize(32, 0);
    }
    hmac::Key::new(hmac::HMAC_SHA256, &bytes)
}

/// The protected header, encoded: `{"alg":"HS256","kid":"<id>"}`.
fn header(token_id: &str) -> String {
    let json = serde_json::json!({"alg": "HS256", "kid": token_id});
    B64.encode(json.to_string())
}

/// The detached signature of `content`: `<header>..<signature>`.
pub fn detached_signature(content: &str, token_id: &str, token_secret: &str) -> String {
    let header = header(token_id);
    let input = format!("{header}.{}", B64.encode(content));
    let tag = hmac::sign(&key(token_secret), input.as_bytes());
    format!("{header}..{}", B64.encode(tag.as_ref()))
}

/// Whether `signature` is the detached signature of `content` with this token (the HMAC is
/// compared in constant time).
pub fn is_valid(signature: &str, content: &str, token_id: &str, token_secret: &str) -> bool {
    let Some((head, tag)) = signature.split_once("..") else {
        return false;
    };
    if head != header(token_id) {
        return false;
    }
    let Ok(tag) = B64.decode(tag) else {
        return false;
    };
    let input = format!("{head}.{}", B64.encode(content));
    hmac::verify(&key(token_secret), input.as_bytes(), &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Upstream's test vectors (cluster-bootstrap/token/jws/jws_test.go).
    const CONTENT: &str = "Hello from the other side. I must have called a thousand times.";
    const SECRET: &str = "my voice is my passcode";
    const ID: &str = "joshua";

    #[test]
    fn signatures_match_upstreams() {
        assert_eq!(
            detached_signature(CONTENT, ID, SECRET),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8"
        );
        assert_eq!(
            detached_signature("", ID, SECRET),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..7Ui1ALizW4jXphVUB7xUqC9vLYLL9RZeOFfVLoB7Tgk"
        );
        assert_eq!(
            detached_signature(CONTENT, ID, ""),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..UfkqvDGiIFxrMnFseDj9LYJOLNrvjW8aHhF71mvvAs8"
        );
    }

    #[test]
    fn only_the_right_token_and_content_verify() {
        let sig = detached_signature(CONTENT, ID, SECRET);
        assert!(is_valid(&sig, CONTENT, ID, SECRET));
        assert!(!is_valid(&format!("{sig}foo"), CONTENT, ID, SECRET));
        assert!(!is_valid(&sig, "other content", ID, SECRET));
        assert!(!is_valid(&sig, CONTENT, ID, "another passcode"));
        assert!(!is_valid(&sig, CONTENT, "abcdef", SECRET));
        assert!(!is_valid("not a jws", CONTENT, ID, SECRET));
    }
}
