//! The projects a user belongs to, and creating a project.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use crate::api::projects::{list_projects, CreateProject};
use crate::components::widgets::{action_error, ErrorBox, Loading, RoleBadge};

#[component]
pub fn Home() -> impl IntoView {
    let create = ServerAction::<CreateProject>::new();
    let projects = Resource::new(move || create.version().get(), |_| list_projects());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(slug)) = create.value().get() {
            navigate(&format!("/p/{slug}"), Default::default());
        }
    });
    view! {
        <Title text="Projects · Trellis"/>
        <h1>"Projects"</h1>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match projects.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">"You are not a member of any project yet. Create one below, or ask a project admin to add you."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <ul class="cards" aria-label="Your projects">
                            {list.into_iter().map(|p| view! {
                                <li class="card">
                                    <h2><a href=format!("/p/{}", p.slug)>{p.name.clone()}</a></h2>
                                    <p class="muted">{p.slug.clone()}" · "{p.member_count}" members · "<RoleBadge role=p.role.clone()/></p>
                                    <p>{p.description.clone()}</p>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Suspense>
        <section class="card">
            <h2>"New project"</h2>
            <ActionForm action=create attr:class="form inline-grid">
                <label>"Name"<input type="text" name="name" required maxlength="100"/></label>
                <label>"Slug (optional)"<input type="text" name="slug" pattern="[a-z][a-z0-9\\-]{1,47}" placeholder="derived from the name"/></label>
                <label class="wide">"Description"<textarea name="description" rows="2" maxlength="5000"></textarea></label>
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Create project"</button>
                {action_error(create)}
            </ActionForm>
        </section>
    }
}
