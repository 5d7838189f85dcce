//! The OpenAPI document for `/v1`, served at `/v1/openapi.json`. A test checks that every
//! documented operation is routed and every `/v1` route is documented.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(title = "Trellis API", description = "The native REST API of Trellis. Authenticate with \
        `Authorization: Bearer <token>` (create tokens under Settings → API tokens) or a signed-in session."),
    paths(
        api::users::me, api::users::list, api::users::create, api::users::list_invites, api::users::invite,
        api::projects::list, api::projects::create, api::projects::get, api::projects::update,
        api::members::list, api::members::add, api::members::remove,
        api::jobs::list, api::jobs::list_instance, api::jobs::get, api::jobs::action, api::jobs::logs,
        api::tokens::list, api::tokens::create, api::tokens::revoke,
        api::audit::project, api::audit::instance,
        api::datasets::list, api::datasets::create, api::datasets::get, api::datasets::upload,
        api::datasets::version, api::datasets::preview, api::datasets::download, api::datasets::anomalies,
        api::datasets::delete_version, api::datasets::delete, api::datasets::set_split, api::datasets::get_split,
        api::datasets::action,
        api::training::submit, api::training::tune, api::training::algorithms, api::training::submit_custom, api::training::automl, api::training::search_action,
        api::models::get, api::models::update, api::models::version_action, api::models::upload_version, api::models::importance,
        api::batch::create, api::batch::list, api::batch::get, api::batch::output,
        api::endpoints::list, api::endpoints::create, api::endpoints::get, api::endpoints::delete, api::endpoints::update, api::endpoints::stats, api::endpoints::logs,
        api::endpoints::predict, api::endpoints::explain, api::endpoints::deploy, api::endpoints::undeploy, api::endpoints::set_traffic, api::endpoints::mutate_deployed_model,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
