#![recursion_limit = "512"]
//! The Trellis web UI: pages, shared widgets and the server functions behind them.
//! Compiled twice: with `ssr` into the server, with `hydrate` into the browser's wasm.

pub mod api;
pub mod components;
pub mod model;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

use crate::components::layout::Layout;
use crate::pages::*;

/// The session key holding the signed-in user's id (shared with the REST API's session auth).
pub const SESSION_USER_KEY: &str = "user_id";

/// Applies the saved theme before the first paint (no flash of the wrong theme).
const THEME_SCRIPT: &str = "try{var t=localStorage.getItem('trellis-theme');if(t){document.documentElement.dataset.theme=t;}}catch(e){}";

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <script inner_html=THEME_SCRIPT></script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/trellis.css"/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/setup") view=auth::Setup/>
                <Route path=path!("/login") view=auth::SignIn/>
                <Route path=path!("/invite/:secret") view=auth::AcceptInvite/>
                <ParentRoute path=path!("") view=Layout>
                    <Route path=path!("/") view=home::Home/>
                    <ParentRoute path=path!("/p/:slug") view=project::ProjectLayout>
                        <Route path=path!("") view=project::Overview/>
                        <Route path=path!("members") view=members::Members/>
                        <Route path=path!("datasets") view=datasets::Datasets/>
                        <Route path=path!("datasets/:name") view=datasets::DatasetDetail/>
                        <Route path=path!("experiments") view=experiments::Experiments/>
                        <Route path=path!("experiments/:id") view=experiments::ExperimentDetail/>
                        <Route path=path!("train") view=training::TrainModel/>
                        <Route path=path!("runs/:run") view=experiments::RunDetail/>
                        <Route path=path!("compare") view=experiments::CompareRuns/>
                        <Route path=path!("models") view=models::Models/>
                        <Route path=path!("models/:name") view=models::ModelDetail/>
                        <Route path=path!("endpoints") view=endpoints::Endpoints/>
                        <Route path=path!("batch") view=batch::BatchPredictions/>
                        <Route path=path!("endpoints/:name") view=endpoints::EndpointDetail/>
                        <Route path=path!("jobs") view=jobs::ProjectJobs/>
                        <Route path=path!("jobs/:id") view=jobs::JobDetail/>
                        <Route path=path!("audit") view=audit::ProjectAudit/>
                    </ParentRoute>
                    <Route path=path!("/settings/tokens") view=settings::Tokens/>
                    <Route path=path!("/settings/password") view=settings::Password/>
                    <Route path=path!("/admin/users") view=admin::Users/>
                    <Route path=path!("/admin/audit") view=audit::InstanceAudit/>
                    <Route path=path!("/admin/jobs") view=jobs::InstanceJobs/>
                    <Route path=path!("/admin/jobs/:id") view=jobs::JobDetail/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
