//! The one place where every request's permission is decided.
//!
//! | who        | reads                                   | writes                                    |
//! |------------|-----------------------------------------|-------------------------------------------|
//! | anonymous  | everything; fibre routes generalised    | nothing (401)                             |
//! | analyst    | everything, exact fibre, history        | nothing (403)                             |
//! | carrier    | everything; exact fibre of its operator;| its operator's assets; its own sectors on |
//! |            | history of assets it owns or shares     | towers it is a tenant of                  |
//! | admin      | everything                              | everything, including restore             |
//!
//! The use-cases of [`crate::service`] ask [`authorize`], [`authorize_tower`]
//! or [`FibreView`] before they act or answer; adapters only identify the
//! caller (an [`Actor`]: an account from its API token, or nobody).

use crate::domain::CollectionId;
pub use crate::domain::account::Actor;
use crate::domain::account::Role;
use crate::domain::tower::{NewTower, Tower};

/// A refusal of the permission policy, with the reason to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The action needs an account and the caller has none (HTTP 401).
    #[error("{0}")]
    SignInRequired(String),
    /// The account may not do this (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
}

/// What the caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read features, tiles, coverage or analysis.
    Read,
    /// Create a feature.
    Create,
    /// Replace or patch a feature.
    Update,
    /// Delete a feature.
    Delete,
    /// Restore a deleted feature.
    Restore,
    /// Read a feature's audit history or the change feed.
    ReadHistory,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "change",
            Action::Delete => "delete",
            Action::Restore => "restore",
            Action::ReadHistory => "read the history of",
        }
    }
}

/// 401 for a request that needs an account.
pub fn sign_in_required(what: &str) -> Denied {
    Denied::SignInRequired(format!(
        "{what} needs an API token: send 'Authorization: Bearer <token>' (an administrator creates \
         tokens with 'telecom-gis token create')"
    ))
}

fn forbidden(detail: String) -> Denied {
    Denied::Forbidden(detail)
}

/// Decides whether `actor` may perform `action` on a feature of `collection`
/// owned by `owner` (its operator id; `None` for districts, or for reads of
/// a whole collection). Tower changes also go through [`authorize_tower`].
///
/// # Errors
/// [`Denied::SignInRequired`] (401) when an account is needed and none was
/// given; [`Denied::Forbidden`] (403) when the account may not do it.
pub fn authorize(
    actor: &Actor,
    action: Action,
    collection: CollectionId,
    owner: Option<&str>,
) -> Result<(), Denied> {
    let verb = action.verb();
    let account = match (actor, action) {
        (_, Action::Read) => return Ok(()),
        (Actor::Anonymous, Action::ReadHistory) => {
            return Err(sign_in_required("the audit history"));
        }
        (Actor::Anonymous, _) => return Err(sign_in_required(&format!("to {verb} {collection}"))),
        (Actor::Account(a), _) => a,
    };
    match (account.role, action) {
        (Role::Admin, _) => Ok(()),
        (Role::Analyst, Action::ReadHistory) => Ok(()),
        (Role::Analyst, _) => Err(forbidden(format!(
            "the analyst token '{}' reads everything but may not {verb} {collection}",
            account.name
        ))),
        (Role::Carrier, Action::Restore) => Err(forbidden(
            "only an administrator (the Department) restores deleted assets".into(),
        )),
        (Role::Carrier, _) if collection == CollectionId::Districts => {
            if action == Action::ReadHistory {
                return Ok(());
            }
            Err(forbidden(format!(
                "districts are the Department's reference data: a carrier may not {verb} them"
            )))
        }
        (Role::Carrier, _) => {
            let mine = account.operator.as_deref();
            match owner {
                Some(o) if Some(o) == mine => Ok(()),
                Some(o) => Err(forbidden(format!(
                    "the token '{}' acts for {}: it may not {verb} an asset of {o}",
                    account.name,
                    mine.unwrap_or("no operator")
                ))),
                None => Err(forbidden(format!(
                    "a carrier may only {verb} its own operator's assets"
                ))),
            }
        }
    }
}

/// Coverage and analysis are public: every caller may read them (a bad
/// token is still refused, by the [`Actor`] extractor).
///
/// # Errors
/// None at present; the signature keeps the decision here.
pub fn authorize_public(actor: &Actor) -> Result<(), Denied> {
    tracing::trace!(?actor, "public read");
    Ok(())
}

/// [`authorize`] for a tower change, with the rules of shared towers: the
/// owner changes the tower and its own sectors, a tenant adds, changes and
/// removes only its own sectors; neither touches the other's sectors.
/// `before` is the stored tower (None for a create), `after` the new one
/// (None for a delete).
///
/// # Errors
/// As [`authorize`].
pub fn authorize_tower(
    actor: &Actor,
    action: Action,
    before: Option<&Tower>,
    after: Option<&NewTower>,
) -> Result<(), Denied> {
    let c = CollectionId::Towers;
    let Some(mine) = actor.carrier_operator() else {
        // Admins may do anything; everyone else is refused by authorize.
        let owner = before.map(|t| t.operator.as_str());
        return authorize(
            actor,
            action,
            c,
            owner.or(after.map(|t| t.operator.as_str())),
        );
    };
    let name = actor.name();
    match (before, after) {
        (None, Some(new)) => {
            authorize(actor, action, c, Some(&new.operator))?;
            if let Some(s) = new.sectors.iter().find(|s| s.operator != mine) {
                return Err(forbidden(format!(
                    "the token '{name}' acts for {mine}: it may not create a sector of {}; \
                     a tenant adds its own sectors once the tower exists",
                    s.operator
                )));
            }
            Ok(())
        }
        (Some(old), Some(new)) => {
            let tenant = old.tenants.iter().any(|t| t == mine);
            if old.operator != mine && !tenant {
                return authorize(actor, action, c, Some(&old.operator));
            }
            if new.operator != old.operator {
                return Err(forbidden(format!(
                    "the token '{name}' acts for {mine}: it may not give tower {} to {}",
                    old.id, new.operator
                )));
            }
            let foreign = new.foreign_changes(old, mine);
            if foreign.is_empty() {
                Ok(())
            } else {
                Err(forbidden(format!(
                    "the token '{name}' acts for {mine}: this change would alter {}; on a shared \
                     tower each operator changes only its own sectors, and only the owner ({}) \
                     changes the tower",
                    foreign.join(" and "),
                    old.operator
                )))
            }
        }
        (Some(old), None) => {
            authorize(actor, action, c, Some(&old.operator))?;
            let mut others: Vec<&str> = old
                .sectors
                .iter()
                .filter(|s| s.operator != mine)
                .map(|s| s.operator.as_str())
                .collect();
            others.sort_unstable();
            others.dedup();
            if others.is_empty() {
                Ok(())
            } else {
                Err(forbidden(format!(
                    "tower {} carries sectors of {}: they remove them first (or an administrator \
                     deletes the tower)",
                    old.id,
                    others.join(", ")
                )))
            }
        }
        (None, None) => Ok(()),
    }
}

/// The first check of a tower change, before its new content is read: a
/// carrier must own the tower or be one of its tenants.
///
/// # Errors
/// As [`authorize`].
pub fn authorize_tower_stake(actor: &Actor, action: Action, tower: &Tower) -> Result<(), Denied> {
    match actor.carrier_operator() {
        Some(mine) if tower.tenants.iter().any(|t| t == mine) => Ok(()),
        _ => authorize(actor, action, CollectionId::Towers, Some(&tower.operator)),
    }
}

/// Whether `actor` may see the audit history of a feature owned by `owner`
/// with these other operators involved (a tower's tenants).
///
/// # Errors
/// As [`authorize`].
pub fn authorize_history(
    actor: &Actor,
    collection: CollectionId,
    owner: Option<&str>,
    involved: &[String],
) -> Result<(), Denied> {
    match actor.carrier_operator() {
        Some(mine) if involved.iter().any(|o| o == mine) => Ok(()),
        _ => authorize(actor, Action::ReadHistory, collection, owner),
    }
}

/// True when `actor` sees the exact geometry of a fibre route owned by
/// `owner`; everyone else gets the generalised layer (H3 cells).
pub fn sees_exact_fibre(actor: &Actor, owner: &str) -> bool {
    match actor {
        Actor::Anonymous => false,
        Actor::Account(a) => match a.role {
            Role::Admin | Role::Analyst => true,
            Role::Carrier => a.operator.as_deref() == Some(owner),
        },
    }
}

/// Which fibre routes a viewer sees exactly (the rest generalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FibreView {
    /// Every route (admins, analysts).
    All,
    /// Only this operator's routes (its carrier).
    Operator(String),
    /// None (the public).
    Generalised,
}

impl FibreView {
    /// The view of `actor`.
    pub fn of(actor: &Actor) -> FibreView {
        if sees_all_fibre(actor) {
            FibreView::All
        } else if let Some(op) = actor.carrier_operator() {
            FibreView::Operator(op.to_owned())
        } else {
            FibreView::Generalised
        }
    }

    /// True when a route of `owner` is seen exactly.
    pub fn exact(&self, owner: &str) -> bool {
        match self {
            FibreView::All => true,
            FibreView::Operator(op) => op == owner,
            FibreView::Generalised => false,
        }
    }
}

/// CSV and GeoPackage exports of fibre routes hold exact geometry: admins
/// and analysts export any, a carrier only with `operator=<its own>`.
///
/// # Errors
/// 401 for the public, 403 for a carrier without its operator filter.
pub fn authorize_exact_fibre_export(
    actor: &Actor,
    view: &FibreView,
    filter: &crate::db::ItemFilter,
) -> Result<(), Denied> {
    let operator = filter
        .properties
        .iter()
        .find(|(k, _)| k == "operator")
        .map(|(_, v)| v.as_str());
    match view {
        FibreView::All => Ok(()),
        FibreView::Operator(op) if operator == Some(op.as_str()) => Ok(()),
        FibreView::Operator(op) => Err(forbidden(format!(
            "CSV and GeoPackage exports carry exact fibre routes: the token '{}' may export only {op}'s (add operator={op}); f=geojson gives every route, others generalised",
            actor.name()
        ))),
        FibreView::Generalised => Err(sign_in_required(
            "exporting exact fibre routes as CSV or GeoPackage (f=geojson gives the generalised \
             routes to everyone)",
        )),
    }
}

/// True when `actor` sees every fibre route exactly.
pub fn sees_all_fibre(actor: &Actor) -> bool {
    matches!(actor.role(), Some(Role::Admin | Role::Analyst))
}

/// Which leases (occupancy records) a reader sees: every lease (the
/// Department: administrators and analysts), those of one operator (its
/// own, and those through banks it owns, which it must decide), or none
/// (the public sees only the capacity class of each bank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseView {
    /// Every lease, with occupancy details.
    All,
    /// The leases of this operator and through its banks.
    Operator(String),
    /// No lease; capacity classes only.
    None,
}

impl LeaseView {
    /// The view of `actor`.
    pub fn of(actor: &Actor) -> Self {
        match actor {
            Actor::Anonymous => LeaseView::None,
            Actor::Account(a) => match (a.role, &a.operator) {
                (Role::Admin | Role::Analyst, _) => LeaseView::All,
                (Role::Carrier, Some(op)) => LeaseView::Operator(op.clone()),
                (Role::Carrier, None) => LeaseView::None,
            },
        }
    }

    /// True when the viewer sees per-duct fill (everyone signed in).
    pub fn sees_fill(&self) -> bool {
        *self != LeaseView::None
    }
}

/// Decides who may ask for a lease, and for which operator: a carrier for
/// its own operator, an administrator for any; returns the lessee.
///
/// # Errors
/// 401 for the public; 403 for analysts and another operator's lease.
pub fn authorize_lease_request(actor: &Actor, operator: Option<&str>) -> Result<String, Denied> {
    let account = match actor {
        Actor::Anonymous => return Err(sign_in_required("requesting a duct lease")),
        Actor::Account(a) => a,
    };
    match (account.role, operator, account.operator.as_deref()) {
        (Role::Admin, Some(op), _) => Ok(op.to_owned()),
        (Role::Admin, None, _) => Err(forbidden(
            "an administrator requesting a lease names the lessee in 'operator'".into(),
        )),
        (Role::Carrier, None, Some(mine)) => Ok(mine.to_owned()),
        (Role::Carrier, Some(op), Some(mine)) if op == mine => Ok(op.to_owned()),
        (Role::Carrier, Some(op), mine) => Err(forbidden(format!(
            "the token '{}' acts for {}: it may not request a lease for {op}",
            account.name,
            mine.unwrap_or("no operator")
        ))),
        (Role::Carrier, None, None) | (Role::Analyst, _, _) => Err(forbidden(format!(
            "the token '{}' may not request duct leases",
            account.name
        ))),
    }
}

/// Decides who may move a lease to `next`: approving or rejecting is for
/// the owner of every bank it runs through (the Department for the city's
/// banks); activating or releasing is for the lessee; administrators may do
/// all.
///
/// # Errors
/// 401 for the public; 403 otherwise.
pub fn authorize_lease_change(
    actor: &Actor,
    lessee: &str,
    bank_owners: &[Option<String>],
    next: crate::domain::duct::LeaseState,
) -> Result<(), Denied> {
    use crate::domain::duct::LeaseState;
    let account = match actor {
        Actor::Anonymous => return Err(sign_in_required("changing a duct lease")),
        Actor::Account(a) => a,
    };
    if account.role == Role::Admin {
        return Ok(());
    }
    let (Role::Carrier, Some(mine)) = (account.role, account.operator.as_deref()) else {
        return Err(forbidden(format!(
            "the token '{}' may not change duct leases",
            account.name
        )));
    };
    match next {
        LeaseState::Approved | LeaseState::Rejected => {
            if let Some(other) = bank_owners.iter().find(|o| o.as_deref() != Some(mine)) {
                return Err(forbidden(format!(
                    "only the owner of every bank of the lease decides it; a bank of it belongs to {}",
                    other
                        .as_deref()
                        .unwrap_or("the city (the Department decides)")
                )));
            }
            Ok(())
        }
        _ if lessee == mine => Ok(()),
        _ => Err(forbidden(format!(
            "only the lessee ({lessee}) or the Department activates or releases this lease"
        ))),
    }
}
