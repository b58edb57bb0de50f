//! The API's one route table (SPEC.md sections 3, 4 and 6): method, path pattern, the role that
//! may call it and the endpoint that serves it. Routing, the `route` label of metrics and
//! request logs, the 405 answer (with `Allow`) and the role-matrix test all come from it, so a
//! new endpoint is one row here and one arm in `api::dispatch`.

use http::Method;

use crate::identity::Role;

/// What serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /v1/transfers`: the transfer pipeline.
    PostTransfer,
    /// `GET /v1/transfers`: the calling tenant's own transfers, newest first.
    ListTransfers,
    /// `GET /v1/transfers/{transfer_id}`: the sender's or recipient's view.
    GetTransfer,
    /// `POST /v1/transfers/{transfer_id}/events`: a lifecycle event.
    PostEvent,
    /// `GET /v1/audit/checkpoint`
    Checkpoint,
    /// `GET /v1/audit/records`
    Records,
    /// `GET /v1/audit/records/{log_index}`
    Record,
    /// `GET /v1/audit/proof/inclusion`
    Inclusion,
    /// `GET /v1/audit/proof/consistency`
    Consistency,
    /// `GET /v1/audit/export`
    Export,
    /// `GET /v1/audit/retention/overdue`
    Overdue,
    /// `GET /v1/audit/counters`
    Counters,
    /// `GET /v1/audit/stats`: the console's overview, per park day.
    Stats,
    /// `GET /v1/audit/whoami`: the calling regulator, its scopes, the log and its witnesses.
    Whoami,
    /// `GET /v1/audit/report`: the monthly report per enterprise, at a tree size.
    Report,
    /// `GET /v1/admin/policy`
    GetPolicy,
    /// `PUT /v1/admin/policy`
    PutPolicy,
    /// `POST /v1/admin/tenants/{id}/suspend`
    Suspend,
    /// `POST /v1/admin/tenants/{id}/unsuspend`
    Unsuspend,
    /// `POST /v1/shipments`: a shipment declaration.
    PostShipment,
    /// `GET /v1/shipments/{shipment_id}`: the custody chain, for its parties.
    GetShipment,
    /// `POST /v1/shipments/{shipment_id}/events`: a custody event.
    PostCustody,
    /// `GET /v1/audit/shipments`
    Shipments,
    /// `GET /v1/audit/tile/entries/<N>[.p/<W>]`: a C2SP `tlog-tiles` entry bundle.
    EntryBundle,
    /// `GET /v1/audit/tile/<L>/<N>[.p/<W>]`: a C2SP `tlog-tiles` hash tile.
    Tile,
    /// `GET /console/...`: the regulator console's app shell (every page's URL).
    Console,
    /// `GET /console/assets/{file}`: one of the console's embedded files.
    ConsoleAsset,
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct Route {
    /// The method.
    pub(crate) method: Method,
    /// The path; a `{name}` segment matches any one segment, handed to the endpoint in order.
    /// A last segment `{name*}` matches the rest of the path (one segment or more, as one
    /// parameter): the tile paths, whose depth varies.
    pub(crate) path: &'static str,
    /// The roles that may call it.
    pub(crate) roles: &'static [Role],
    /// What serves it.
    pub(crate) endpoint: Endpoint,
}

const fn route(
    method: Method,
    path: &'static str,
    roles: &'static [Role],
    endpoint: Endpoint,
) -> Route {
    Route {
        method,
        path,
        roles,
        endpoint,
    }
}

const TENANT: &[Role] = &[Role::Tenant];
const PARTIES: &[Role] = &[Role::Tenant, Role::Carrier];
const REGULATOR: &[Role] = &[Role::Regulator];
const ADMIN: &[Role] = &[Role::Admin];
/// The console's static files hold no data: any principal of the park CA loads them (the
/// "this console is for regulators" page uses the style sheet).
const ANYONE: &[Role] = &[Role::Tenant, Role::Carrier, Role::Regulator, Role::Admin];

/// Every route of the API listener (a slice, not an array of a stated length: a route added on
/// another branch then merges as one line).
#[rustfmt::skip]
pub(crate) static ROUTES: &[Route] = &[
    route(Method::POST, "/v1/transfers",                          TENANT,    Endpoint::PostTransfer),
    route(Method::GET,  "/v1/transfers",                          TENANT,    Endpoint::ListTransfers),
    route(Method::GET,  "/v1/transfers/{transfer_id}",            TENANT,    Endpoint::GetTransfer),
    route(Method::POST, "/v1/transfers/{transfer_id}/events",     TENANT,    Endpoint::PostEvent),
    route(Method::POST, "/v1/shipments",                          TENANT,    Endpoint::PostShipment),
    route(Method::GET,  "/v1/shipments/{shipment_id}",            PARTIES,   Endpoint::GetShipment),
    route(Method::POST, "/v1/shipments/{shipment_id}/events",     PARTIES,   Endpoint::PostCustody),
    route(Method::GET,  "/v1/audit/checkpoint",                   REGULATOR, Endpoint::Checkpoint),
    route(Method::GET,  "/v1/audit/records",                      REGULATOR, Endpoint::Records),
    route(Method::GET,  "/v1/audit/records/{log_index}",          REGULATOR, Endpoint::Record),
    route(Method::GET,  "/v1/audit/proof/inclusion",              REGULATOR, Endpoint::Inclusion),
    route(Method::GET,  "/v1/audit/proof/consistency",            REGULATOR, Endpoint::Consistency),
    route(Method::GET,  "/v1/audit/export",                       REGULATOR, Endpoint::Export),
    route(Method::GET,  "/v1/audit/retention/overdue",            REGULATOR, Endpoint::Overdue),
    route(Method::GET,  "/v1/audit/counters",                     REGULATOR, Endpoint::Counters),
    route(Method::GET,  "/v1/audit/shipments",                    REGULATOR, Endpoint::Shipments),
    route(Method::GET,  "/v1/audit/stats",                        REGULATOR, Endpoint::Stats),
    route(Method::GET,  "/v1/audit/whoami",                       REGULATOR, Endpoint::Whoami),
    route(Method::GET,  "/v1/audit/report",                       REGULATOR, Endpoint::Report),
    route(Method::GET,  "/v1/audit/tile/entries/{tile*}",         REGULATOR, Endpoint::EntryBundle),
    route(Method::GET,  "/v1/audit/tile/{tile*}",                 REGULATOR, Endpoint::Tile),
    route(Method::GET,  "/v1/admin/policy",                       ADMIN,     Endpoint::GetPolicy),
    route(Method::PUT,  "/v1/admin/policy",                       ADMIN,     Endpoint::PutPolicy),
    route(Method::POST, "/v1/admin/tenants/{id}/suspend",         ADMIN,     Endpoint::Suspend),
    route(Method::POST, "/v1/admin/tenants/{id}/unsuspend",       ADMIN,     Endpoint::Unsuspend),
    route(Method::GET,  "/console",                               REGULATOR, Endpoint::Console),
    route(Method::GET,  "/console/records",                       REGULATOR, Endpoint::Console),
    route(Method::GET,  "/console/records/{log_index}",           REGULATOR, Endpoint::Console),
    route(Method::GET,  "/console/transfers/{transfer_id}",       REGULATOR, Endpoint::Console),
    route(Method::GET,  "/console/shipments/{shipment_id}",       REGULATOR, Endpoint::Console),
    route(Method::GET,  "/console/overdue",                       REGULATOR, Endpoint::Console),
    route(Method::GET,  "/console/reports",                       REGULATOR, Endpoint::Console),
    route(Method::GET,  "/console/assets/{file}",                 ANYONE,    Endpoint::ConsoleAsset),
];

/// What a request's method and path resolve to.
#[derive(Debug)]
pub(crate) enum Resolved<'p> {
    /// A route, with the path's `{name}` segments in order.
    Found {
        route: &'static Route,
        params: Vec<&'p str>,
    },
    /// The path is a route's, but not with this method: the methods it takes.
    WrongMethod {
        path: &'static str,
        allowed: Vec<&'static Method>,
    },
    /// No route has this path.
    NotFound,
}

/// Resolves `method` and `path` (a trailing `/` is ignored). HEAD resolves as GET (RFC 9110
/// section 9.3.2; `api::handle` sends no content with its answer). The first pattern in the
/// table that matches the path is the path's (`/v1/audit/tile/entries/{tile*}` before
/// `/v1/audit/tile/{tile*}`): later patterns matching it too are not considered.
pub(crate) fn resolve<'p>(method: &Method, path: &'p str) -> Resolved<'p> {
    let mut allowed = Vec::new();
    let mut pattern = None;
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    for route in ROUTES {
        if pattern.is_some_and(|p| p != route.path) {
            continue;
        }
        let Some(params) = matches(route.path, path) else {
            continue;
        };
        if route.method == *method {
            return Resolved::Found { route, params };
        }
        pattern = Some(route.path);
        allowed.push(&route.method);
    }
    match pattern {
        Some(path) => Resolved::WrongMethod { path, allowed },
        None => Resolved::NotFound,
    }
}

/// The `route` label of metrics and request logs: the pattern of the route whose path this is
/// (whatever the method), or `other`. Bounded: never the raw path.
pub(crate) fn label(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|route| matches(route.path, path).is_some())
        .map_or("other", |route| route.path)
}

/// The `{name}` segments of `path` when it matches `pattern` (a last `{name*}`: the rest of
/// the path, at least one segment).
fn matches<'p>(pattern: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let mut given = path.trim_end_matches('/');
    let mut params = Vec::new();
    for wanted in pattern.split('/').skip(1) {
        let rest = given.strip_prefix('/')?;
        if wanted.starts_with('{') && wanted.ends_with("*}") {
            return (!rest.is_empty()).then(|| {
                params.push(rest);
                params
            });
        }
        let (segment, after) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if wanted.starts_with('{') {
            params.push(segment);
        } else if wanted != segment {
            return None;
        }
        given = after;
    }
    given.is_empty().then_some(params)
}

/// The table as documented: method, path pattern and the roles of every route (`tenant`, or
/// `tenant|carrier` for a route that takes several).
pub fn table() -> Vec<(&'static str, &'static str, String)> {
    ROUTES
        .iter()
        .map(|route| {
            let roles: Vec<&str> = route.roles.iter().map(|r| r.as_str()).collect();
            (route.method.as_str(), route.path, roles.join("|"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(method: Method, path: &str) -> Option<(Endpoint, Vec<String>)> {
        match resolve(&method, path) {
            Resolved::Found { route, params } => Some((
                route.endpoint,
                params.into_iter().map(str::to_owned).collect(),
            )),
            _ => None,
        }
    }

    #[test]
    fn paths_resolve_to_their_endpoint_and_parameters() {
        assert_eq!(
            found(Method::POST, "/v1/transfers"),
            Some((Endpoint::PostTransfer, vec![]))
        );
        assert_eq!(
            found(Method::POST, "/v1/transfers/"),
            Some((Endpoint::PostTransfer, vec![])),
            "a trailing slash is ignored"
        );
        assert_eq!(
            found(Method::POST, "/v1/transfers/ab12/events"),
            Some((Endpoint::PostEvent, vec!["ab12".to_owned()]))
        );
        assert_eq!(
            found(Method::GET, "/v1/audit/records/42"),
            Some((Endpoint::Record, vec!["42".to_owned()]))
        );
        assert_eq!(
            found(Method::POST, "/v1/admin/tenants/hk-biolab/suspend"),
            Some((Endpoint::Suspend, vec!["hk-biolab".to_owned()]))
        );
        assert_eq!(
            found(Method::POST, "/v1/admin/tenants/hk-biolab/unsuspend"),
            Some((Endpoint::Unsuspend, vec!["hk-biolab".to_owned()]))
        );
        assert_eq!(
            found(Method::HEAD, "/v1/audit/checkpoint"),
            Some((Endpoint::Checkpoint, vec![])),
            "HEAD is GET without the content"
        );
        assert_eq!(
            found(Method::GET, "/v1/transfers"),
            Some((Endpoint::ListTransfers, vec![]))
        );
        assert_eq!(
            found(Method::HEAD, "/v1/transfers"),
            Some((Endpoint::ListTransfers, vec![]))
        );
        assert_eq!(found(Method::GET, "/v1/transfers/a/b"), None);
        assert_eq!(found(Method::GET, "/v2/transfers"), None);
        assert_eq!(found(Method::GET, "/"), None);
    }

    #[test]
    fn a_known_path_with_another_method_lists_the_methods_it_takes() {
        match resolve(&Method::DELETE, "/v1/admin/policy") {
            Resolved::WrongMethod { path, allowed } => {
                assert_eq!(path, "/v1/admin/policy");
                assert_eq!(allowed, [&Method::GET, &Method::PUT]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            resolve(&Method::GET, "/v1/nothing"),
            Resolved::NotFound
        ));
    }

    /// The regulator's endpoints, moved here from the audit module's own resolver.
    #[test]
    fn audit_paths_resolve_to_endpoints_404_or_405() {
        let get = |path: &str| found(Method::GET, path).map(|(endpoint, _)| endpoint);
        assert_eq!(get("/v1/audit/records"), Some(Endpoint::Records));
        assert_eq!(
            found(Method::GET, "/v1/audit/records/7"),
            Some((Endpoint::Record, vec!["7".to_owned()]))
        );
        assert_eq!(get("/v1/audit/proof/inclusion"), Some(Endpoint::Inclusion));
        assert_eq!(
            get("/v1/audit/proof/consistency"),
            Some(Endpoint::Consistency)
        );
        assert_eq!(get("/v1/audit/export"), Some(Endpoint::Export));
        assert_eq!(get("/v1/audit/retention/overdue"), Some(Endpoint::Overdue));
        assert_eq!(get("/v1/audit/counters"), Some(Endpoint::Counters));
        assert_eq!(get("/v1/audit/checkpoint"), Some(Endpoint::Checkpoint));
        for path in [
            "/v1/audit/proof",
            "/v1/audit/records/1/x",
            "/v1/audit/retention",
            "/v1/audit",
        ] {
            assert!(
                matches!(resolve(&Method::GET, path), Resolved::NotFound),
                "{path}"
            );
        }
        for path in [
            "/v1/audit/records",
            "/v1/audit/export",
            "/v1/audit/checkpoint",
        ] {
            assert!(
                matches!(resolve(&Method::POST, path), Resolved::WrongMethod { .. }),
                "{path}"
            );
        }
    }

    /// The tile routes take the rest of the path as one parameter; the entry bundles' pattern
    /// comes first and wins over the hash tiles' for `entries/...`.
    #[test]
    fn tile_paths_resolve_to_their_endpoint_with_the_rest_of_the_path() {
        assert_eq!(
            found(Method::GET, "/v1/audit/tile/0/x001/234.p/5"),
            Some((Endpoint::Tile, vec!["0/x001/234.p/5".to_owned()]))
        );
        assert_eq!(
            found(Method::GET, "/v1/audit/tile/1/000"),
            Some((Endpoint::Tile, vec!["1/000".to_owned()]))
        );
        assert_eq!(
            found(Method::GET, "/v1/audit/tile/entries/x002/000.p/3"),
            Some((Endpoint::EntryBundle, vec!["x002/000.p/3".to_owned()]))
        );
        assert_eq!(
            found(Method::HEAD, "/v1/audit/tile/entries/000"),
            Some((Endpoint::EntryBundle, vec!["000".to_owned()]))
        );
        assert_eq!(
            found(Method::GET, "/v1/audit/tile/entries"),
            Some((Endpoint::Tile, vec!["entries".to_owned()])),
            "no bundle index: the tile endpoint refuses it as a path"
        );
        assert_eq!(found(Method::GET, "/v1/audit/tile"), None);
        assert_eq!(found(Method::GET, "/v1/audit/tile/"), None);
        assert_eq!(found(Method::GET, "/v1/audit/tiles/0/000"), None);
        match resolve(&Method::POST, "/v1/audit/tile/entries/000") {
            Resolved::WrongMethod { path, allowed } => {
                assert_eq!(path, "/v1/audit/tile/entries/{tile*}");
                assert_eq!(allowed, [&Method::GET], "one pattern's methods only");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(label("/v1/audit/tile/0/x001/234"), "/v1/audit/tile/{tile*}");
        assert_eq!(
            label("/v1/audit/tile/entries/001.p/9"),
            "/v1/audit/tile/entries/{tile*}"
        );
    }

    /// Every console page has its own URL, all served by the shell; `/console/` is the
    /// overview; assets take one file name.
    #[test]
    fn console_urls_resolve_to_the_shell_or_an_asset() {
        for path in [
            "/console",
            "/console/",
            "/console/records",
            "/console/records/12",
            "/console/transfers/ab12",
            "/console/shipments/cd34",
            "/console/overdue",
            "/console/reports/",
        ] {
            assert_eq!(
                found(Method::GET, path).map(|(e, _)| e),
                Some(Endpoint::Console),
                "{path}"
            );
        }
        assert_eq!(
            found(Method::HEAD, "/console/assets/app.js"),
            Some((Endpoint::ConsoleAsset, vec!["app.js".to_owned()]))
        );
        for path in [
            "/console/nothing",
            "/console/records/1/x",
            "/console/assets/a/b",
        ] {
            assert!(
                matches!(resolve(&Method::GET, path), Resolved::NotFound),
                "{path}"
            );
        }
    }

    #[test]
    fn labels_are_patterns_never_raw_paths() {
        assert_eq!(label("/v1/transfers/ab12"), "/v1/transfers/{transfer_id}");
        assert_eq!(
            label("/v1/audit/records/7"),
            "/v1/audit/records/{log_index}"
        );
        assert_eq!(label("/v1/audit/checkpoint"), "/v1/audit/checkpoint");
        assert_eq!(label("/v1/audit/nothing"), "other");
        assert_eq!(label("/etc/passwd"), "other");
    }

    #[test]
    fn every_route_is_listed_once() {
        let table = table();
        for (i, row) in table.iter().enumerate() {
            assert!(!table[i + 1..].contains(row), "{row:?} is listed twice");
        }
        assert_eq!(table.len(), ROUTES.len());
    }
}
