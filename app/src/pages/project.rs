//! A project's frame (title, role) and its overview with settings for project admins.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Outlet;
use leptos_router::hooks::use_params_map;

use crate::api::projects::{get_project, UpdateProject};
use crate::components::widgets::{action_error, ErrorBox, Loading, RoleBadge};
use crate::model::{fmt_time, AppError, ProjectSummary};

/// The current project, provided to the pages inside a project.
#[derive(Clone, Copy)]
pub struct ProjectCtx {
    pub slug: Memo<String>,
    pub project: Resource<Result<ProjectSummary, AppError>>,
    /// Bumped after changes that alter the project itself.
    pub version: RwSignal<usize>,
}

pub fn use_project() -> ProjectCtx {
    expect_context::<ProjectCtx>()
}

#[component]
pub fn ProjectLayout() -> impl IntoView {
    let params = use_params_map();
    let slug = Memo::new(move |_| params.read().get("slug").unwrap_or_default());
    let version = RwSignal::new(0usize);
    let project = Resource::new(move || (slug.get(), version.get()), |(s, _)| get_project(s));
    provide_context(ProjectCtx { slug, project, version });
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match project.await {
                    Ok(p) => view! {
                        <div class="page-head">
                            <h1>{p.name.clone()}</h1>
                            <span class="muted">"Your role: "</span><RoleBadge role=p.role.clone()/>
                        </div>
                        <Outlet/>
                    }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn Overview() -> impl IntoView {
    let ctx = use_project();
    let update = ServerAction::<UpdateProject>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = update.value().get() {
            ctx.version.update(|v| *v += 1);
        }
    });
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let p = match ctx.project.await {
                    Ok(p) => p,
                    Err(e) => return view! { <ErrorBox error=e/> }.into_any(),
                };
                let title = format!("{} · Trellis", p.name);
                let manage = p.can_manage();
                view! {
                    <Title text=title/>
                    <section class="card">
                        <h2>"About"</h2>
                        <p>{if p.description.is_empty() { "No description yet.".to_string() } else { p.description.clone() }}</p>
                        <dl class="facts">
                            <dt>"Slug"</dt><dd><code>{p.slug.clone()}</code></dd>
                            <dt>"Members"</dt><dd><a href=format!("/p/{}/members", p.slug)>{p.member_count}</a></dd>
                            <dt>"Created"</dt><dd>{fmt_time(&p.created_at)}</dd>
                        </dl>
                    </section>
                    {manage.then(|| view! {
                        <section class="card">
                            <h2>"Settings"</h2>
                            <ActionForm action=update attr:class="form">
                                <input type="hidden" name="slug" value=p.slug.clone()/>
                                <label>"Name"<input type="text" name="name" required maxlength="100" value=p.name.clone()/></label>
                                <label>"Description"<textarea name="description" rows="3" maxlength="5000" prop:value=p.description.clone()></textarea></label>
                                <button type="submit" disabled=move || update.pending().get()>"Save settings"</button>
                                {action_error(update)}
                                {move || matches!(update.value().get(), Some(Ok(()))).then(|| view! { <p class="ok" role="status">"Saved."</p> })}
                            </ActionForm>
                        </section>
                    })}
                }.into_any()
            })}
        </Suspense>
    }
}
