pub mod admin;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod datasets;
pub mod endpoints;
pub mod experiments;
pub mod home;
pub mod jobs;
pub mod models;
pub mod members;
pub mod project;
pub mod settings;
pub mod training;

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · Trellis"/>
        <main class="narrow">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. "<a href="/">"Go to your projects"</a>"."</p>
        </main>
    }
}
