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
    /// The other names in the roles claim (identity-provider groups such as
    /// `release-manager`), sorted and without duplicates. They grant no
    /// permission; an approval that names one as its approver role may be
    /// decided only by a holder of it (see [`Principal::may_decide_as`]).
    #[serde(default)]
    pub groups: Vec<String>,
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

    /// Whether this caller may decide an approval that names
    /// `approver_role` (a gate's `approverRole`, an escalation policy's
    /// `@approver_role`), on top of the decide permission: the role narrows
    /// who may decide and never widens it. None: anyone who may decide. One
    /// of the four roles: its holders. Any other name: holders of that group
    /// in their token. An Admin may always decide.
    pub fn may_decide_as(&self, approver_role: Option<&str>) -> bool {
        let Some(name) = approver_role.map(str::trim).filter(|n| !n.is_empty()) else {
            return true;
        };
        if self.roles.contains(&Role::Admin) {
            return true;
        }
        match Role::parse(name) {
            Some(role) => self.roles.contains(&role),
            None => self.groups.iter().any(|g| g.eq_ignore_ascii_case(name)),
        }
    }

    /// Builds the principal from verified claims. `roles_claim` is tried as a
    /// top-level name first, then as a dotted path.
    pub(crate) fn from_claims(
        claims: &Map<String, Value>,
        roles_claim: &str,
    ) -> Result<Self, Error> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let (roles, groups) = roles_from(lookup(claims, roles_claim));
        if roles.is_empty() {
            return Err(Error::NoRoles);
        }
        Ok(Self {
            subject: text("sub").ok_or(Error::MalformedToken {
                reason: "token has no sub",
            })?,
            name: text("name").or_else(|| text("preferred_username")),
            roles,
            groups,
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
/// every user; they are kept as groups, which grant nothing by themselves.
/// A token with no known role at all is refused by the caller.
fn roles_from(value: Option<&Value>) -> (Vec<Role>, Vec<String>) {
    let names: Vec<&str> = match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => s.split(|c: char| c.is_whitespace() || c == ',').collect(),
        _ => Vec::new(),
    };
    let (mut roles, mut groups) = (Vec::new(), Vec::new());
    for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
        match Role::parse(name) {
            Some(role) => roles.push(role),
            None => groups.push(name.to_owned()),
        }
    }
    roles.sort();
    roles.dedup();
    groups.sort();
    groups.dedup();
    (roles, groups)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn holding(roles: &[Role], groups: &[&str]) -> Principal {
        Principal {
            subject: "u".to_owned(),
            name: None,
            roles: roles.to_vec(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            issuer: "i".to_owned(),
            token_id: None,
        }
    }

    #[test]
    fn an_approver_role_narrows_who_may_decide() {
        let approver = holding(&[Role::Approver], &[]);
        let release = holding(&[Role::Approver], &["release-manager"]);
        let admin = holding(&[Role::Admin], &[]);
        let both = holding(&[Role::Operator, Role::Approver], &[]);
        assert!(approver.may_decide_as(None));
        assert!(approver.may_decide_as(Some("  ")));
        assert!(approver.may_decide_as(Some("approver")));
        assert!(!approver.may_decide_as(Some("Admin")));
        assert!(!approver.may_decide_as(Some("Operator")));
        assert!(both.may_decide_as(Some("Operator")));
        assert!(!approver.may_decide_as(Some("release-manager")));
        assert!(release.may_decide_as(Some("Release-Manager")));
        assert!(!release.may_decide_as(Some("security-officer")));
        assert!(admin.may_decide_as(Some("security-officer")));
        assert!(admin.may_decide_as(Some("Approver")));
    }

    #[test]
    fn names_that_are_no_role_are_kept_as_groups() {
        let c = claims(json!({
            "sub": "u1", "iss": "i",
            "roles": ["Approver", "release-manager", "offline_access", "release-manager"]
        }));
        let p = Principal::from_claims(&c, "roles").unwrap();
        assert_eq!(p.roles, vec![Role::Approver]);
        assert_eq!(p.groups, vec!["offline_access", "release-manager"]);
        let only_groups = claims(json!({"sub": "u1", "iss": "i", "roles": "release-manager"}));
        assert!(matches!(
            Principal::from_claims(&only_groups, "roles"),
            Err(Error::NoRoles)
        ));
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
