//! The join token of `ferrokube server`: made on first start, kept in `<data-dir>/node-token`
//! (0600) and in its `kube-system/bootstrap-token-<id>` Secret (recreated from the file when
//! missing), valid for authentication and for signing cluster-info, with the extra group
//! `system:bootstrappers:ferrokube:default-node-token`. It does not expire.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Value, json};
use tracing::warn;

use super::{
    BootstrapToken, NODE_GROUP, NODE_TOKEN_FILE, SECRET_NAMESPACE, SECRET_TYPE, keys, secret_data,
};
use crate::objects::WriteOptions;
use crate::{Apiserver, Error};

/// The Secret that stores `token` for agents to join with.
pub fn secret(token: &BootstrapToken) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": token.secret_name(), "namespace": SECRET_NAMESPACE},
        "type": SECRET_TYPE,
        "data": {
            "description": b64("The token ferrokube agents join this cluster with (see <data-dir>/node-token)."),
            "token-id": b64(&token.id),
            "token-secret": b64(&token.secret),
            "usage-bootstrap-authentication": b64("true"),
            "usage-bootstrap-signing": b64("true"),
            "auth-extra-groups": b64(NODE_GROUP),
        },
    })
}

/// Reads the join token from `<data_dir>/node-token`, making one when there is none, and
/// makes sure its Secret exists. Returns the token and the file's path.
pub async fn ensure(
    state: &Apiserver,
    data_dir: &Path,
) -> Result<(BootstrapToken, PathBuf), Error> {
    let path = data_dir.join(NODE_TOKEN_FILE);
    let existing = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| BootstrapToken::parse(s.trim()));
    let token = match existing {
        Some(t) => t,
        None => {
            let t = BootstrapToken::generate();
            crate::pki::write_private(&path, &format!("{t}\n"))?;
            t
        }
    };
    let Some(r) = state.objects.registry.lookup("", "v1", "secrets") else {
        return Ok((token, path));
    };
    let opts = WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    };
    match state
        .objects
        .create(r, SECRET_NAMESPACE, secret(&token), &opts)
        .await
    {
        Ok(_) => {}
        Err(e) if e.code == 409 => {
            if let Ok((stored, _)) = state
                .objects
                .current(r, SECRET_NAMESPACE, &token.secret_name())
                .await
                && secret_data(&stored, keys::TOKEN_SECRET) != token.secret
            {
                warn!(
                    secret = %token.secret_name(),
                    path = %path.display(),
                    "the bootstrap token Secret does not hold the token of the node-token file; agents joining with the file's token will be refused"
                );
            }
        }
        Err(e) => warn!(error = %e, "bootstrap token Secret not created"),
    }
    Ok((token, path))
}
