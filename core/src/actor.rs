//! Who is asking: a signed-in user, a user acting through an API token, or the local operator.

/// The caller of a domain operation.
#[derive(Clone, Debug)]
pub struct Actor {
    /// `None` only for [`Actor::operator`] (the command line on the server machine).
    pub user_id: Option<i64>,
    pub email: String,
    pub is_instance_admin: bool,
    /// Set when the request authenticated with an API token.
    pub token: Option<TokenGrant>,
    /// Remote address, for audit rows and rate limits.
    pub ip: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    pub token_id: i64,
    /// A token scoped to one project can only reach that project.
    pub project_id: Option<i64>,
    /// A predict-only token: it may only predict on the endpoints it lists (checked by
    /// `serving`); everything else refuses it.
    pub predict_only: bool,
}

impl Actor {
    /// The operator running `trellis` commands on the server: full instance rights.
    pub fn operator() -> Self {
        Actor {
            user_id: None,
            email: "operator (command line)".to_string(),
            is_instance_admin: true,
            token: None,
            ip: None,
        }
    }

    pub fn with_ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    /// The project a token is restricted to, if any.
    pub fn token_project(&self) -> Option<i64> {
        self.token.and_then(|t| t.project_id)
    }

    /// Whether the caller authenticated with a predict-only token.
    pub fn is_predict_only(&self) -> bool {
        self.token.is_some_and(|t| t.predict_only)
    }

    /// Refuses predict-only tokens (everything but prediction calls this, through
    /// `projects::authorize`).
    pub fn require_full_token(&self) -> crate::Result<()> {
        if self.is_predict_only() {
            Err(crate::Error::forbidden("this API token may only make predictions on the endpoints it names"))
        } else {
            Ok(())
        }
    }

    /// Instance-wide rights: instance admin, and not confined to a project by its token.
    pub fn has_instance_rights(&self) -> bool {
        self.is_instance_admin && self.token_project().is_none() && !self.is_predict_only()
    }

    pub fn require_user(&self) -> crate::Result<i64> {
        self.user_id.ok_or_else(|| crate::Error::forbidden("this action needs a signed-in user"))
    }

    pub fn require_instance_admin(&self) -> crate::Result<()> {
        if self.has_instance_rights() {
            Ok(())
        } else {
            Err(crate::Error::forbidden("only instance administrators may do this"))
        }
    }
}
