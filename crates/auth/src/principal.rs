//! Who is calling, as established from a verified token.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::role::{Permission, Role, allows};

/// An authenticated caller. The verifier builds one only from a token whose
/// signature and claims have been checked; the fields are public so that the
/// server's tests and internal service identities can build one too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The token's `sub`: stable identifier of the user or service.
    pub subject: String,
    /// A display name (`name`, else `preferred_username`), for audit records.
    pub name: Option<String>,
    /// Recognised roles, sorted and without duplicates; never empty.
    pub roles: Vec<Role>,
    /// The token's `iss`, so audit records say which source vouched.
    pub issuer: String,
    /// The token's `jti`, if any, so an audit record can name the token
    /// without storing it.
    pub token_id: Option<String>,
}

impl Principal {
    /// Whether this caller may do `p`.
    pub fn can(&self, p: Permission) -> bool {
        allows(&self.roles, p)
    }

    /// `Ok` if this caller may do `p`, else [`Error::Forbidden`].
    pub fn require(&self, p: Permission) -> Result<(), Error> {
        if self.can(p) {
            Ok(())
        } else {
            Err(Error::Forbidden { permission: p })
        }
    }

    /// Builds the principal from verified claims. `roles_claim` is tried as a
    /// top-level name first, then as a dotted path.
    pub(crate) fn from_claims(
        claims: &Map<String, Value>,
        roles_claim: &str,
    ) -> Result<Self, Error> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let roles = roles_from(lookup(claims, roles_claim));
        if roles.is_empty() {
            return Err(Error::NoRoles);
        }
        Ok(Self {
            subject: text("sub").ok_or(Error::MalformedToken {
                reason: "token has no sub",
            })?,
            name: text("name").or_else(|| text("preferred_username")),
            roles,
            issuer: text("iss").ok_or(Error::WrongIssuer)?,
            token_id: text("jti"),
        })
    }
}

/// Finds a claim by exact name (Auth0-style `https://example.com/roles`
/// contains dots) or else by walking a dotted path (`realm_access.roles`).
fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut segments = path.split('.');
    let mut current = claims.get(segments.next()?)?;
    for segment in segments {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

/// Known roles in the claim. Unknown names are ignored rather than refused:
/// identity providers put their own roles (`offline_access`,
/// `uma_authorization`) in the same list, and refusing them would lock out
/// every user. A token with no known role at all is refused by the caller.
fn roles_from(value: Option<&Value>) -> Vec<Role> {
    let mut roles: Vec<Role> = match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter_map(Role::parse)
            .collect(),
        Some(Value::String(s)) => s
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter_map(Role::parse)
            .collect(),
        _ => Vec::new(),
    };
    roles.sort();
    roles.dedup();
    roles
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn roles_come_from_a_nested_path_case_insensitively() {
        let c = claims(json!({
            "sub": "u1", "iss": "i", "preferred_username": "ada", "jti": "t1",
            "realm_access": {"roles": ["offline_access", "operator", "ADMIN", "Operator"]}
        }));
        let p = Principal::from_claims(&c, "realm_access.roles").unwrap();
        assert_eq!(p.roles, vec![Role::Operator, Role::Admin]);
        assert_eq!(p.name.as_deref(), Some("ada"));
        assert_eq!(p.token_id.as_deref(), Some("t1"));
    }

    #[test]
    fn dotted_top_level_names_win_over_paths() {
        let c =
            claims(json!({"sub": "u", "iss": "i", "https://aw.example/roles": "viewer approver"}));
        let p = Principal::from_claims(&c, "https://aw.example/roles").unwrap();
        assert_eq!(p.roles, vec![Role::Viewer, Role::Approver]);
    }

    #[test]
    fn no_known_role_is_refused() {
        for roles in [json!(["superuser"]), json!([]), json!(7), json!(null)] {
            let c = claims(json!({"sub": "u", "iss": "i", "roles": roles}));
            assert_eq!(
                Principal::from_claims(&c, "roles").unwrap_err(),
                Error::NoRoles
            );
        }
        let missing = claims(json!({"sub": "u", "iss": "i"}));
        assert_eq!(
            Principal::from_claims(&missing, "roles").unwrap_err(),
            Error::NoRoles
        );
    }

    #[test]
    fn require_maps_to_forbidden() {
        let c = claims(json!({"sub": "u", "iss": "i", "roles": ["Viewer"]}));
        let p = Principal::from_claims(&c, "roles").unwrap();
        p.require(Permission::Read).unwrap();
        assert_eq!(
            p.require(Permission::StartRun).unwrap_err(),
            Error::Forbidden {
                permission: Permission::StartRun
            }
        );
    }
}
