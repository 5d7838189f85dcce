//! The page frame: top bar (brand, project switcher, theme, user menu), side navigation, content.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};
use leptos_router::hooks::{use_location, use_navigate};

use crate::api::projects::list_projects;
use crate::api::session::{whoami, SignOut};
use crate::components::widgets::go_to;
use crate::model::Me;

/// The signed-in user, shared with every page under the layout.
#[derive(Clone, Copy)]
pub struct Session(pub Resource<Result<Option<Me>, crate::model::AppError>>);

type ProjectsResource = Resource<Result<Vec<crate::model::ProjectSummary>, crate::model::AppError>>;

/// The project slug in the current URL (`/p/{slug}/…`), if any.
pub fn current_slug(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/p/")?;
    let slug = rest.split('/').next()?;
    (!slug.is_empty()).then(|| slug.to_string())
}

#[component]
pub fn Layout() -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    provide_context(Session(me));
    let location = use_location();
    let slug = Memo::new(move |_| current_slug(&location.pathname.get()));
    // Refetched on every project change, so a new project shows up at once.
    let projects = Resource::new(move || slug.get(), |_| list_projects());

    view! {
        <div class="app">
            <header class="topbar">
                <a class="brand" href="/">"Trellis"</a>
                <ProjectSwitcher slug projects/>
                <div class="spacer"></div>
                <ThemeToggle/>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match me.await {
                            Ok(Some(user)) => view! { <UserMenu user/> }.into_any(),
                            _ => view! { <a href="/login">"Sign in"</a> }.into_any(),
                        }
                    })}
                </Transition>
            </header>
            <div class="body">
                <nav class="sidenav" aria-label="Main">
                    <SideNav slug projects/>
                </nav>
                <main class="content">
                    <Outlet/>
                </main>
            </div>
        </div>
    }
}

#[component]
fn SideNav(slug: Memo<Option<String>>, projects: ProjectsResource) -> impl IntoView {
    let Session(me) = expect_context::<Session>();
    view! {
        <ul>
            <li><A href="/" exact=true>"Projects"</A></li>
        </ul>
        {move || slug.get().map(|s| {
            let base = format!("/p/{s}");
            view! {
                <h2 class="nav-heading">{s.clone()}</h2>
                <ul>
                    <li><A href=base.clone() exact=true>"Overview"</A></li>
                    <li><A href=format!("{base}/datasets")>"Datasets"</A></li>
                    <li><A href=format!("{base}/experiments")>"Experiments"</A></li>
                    <li><A href=format!("{base}/train")>"Train"</A></li>
                    <li><A href=format!("{base}/models")>"Models"</A></li>
                    <li><A href=format!("{base}/endpoints")>"Endpoints"</A></li>
                    <li><A href=format!("{base}/batch")>"Batch predictions"</A></li>
                    <li><A href=format!("{base}/members")>"Members"</A></li>
                    <li><A href=format!("{base}/jobs")>"Jobs"</A></li>
                    <Transition fallback=|| ()>
                        {
                            let (s, base) = (s.clone(), base.clone());
                            move || {
                                let (s, base) = (s.clone(), base.clone());
                                Suspend::new(async move {
                                    let admin = projects.await.unwrap_or_default().iter().any(|p| p.slug == s && p.can_manage());
                                    admin.then(|| view! { <li><A href=format!("{base}/audit")>"Audit log"</A></li> })
                                })
                            }
                        }
                    </Transition>
                </ul>
            }
        })}
        <h2 class="nav-heading">"Settings"</h2>
        <ul>
            <li><A href="/settings/tokens">"API tokens"</A></li>
            <li><A href="/settings/password">"Password"</A></li>
        </ul>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let admin = matches!(me.await, Ok(Some(ref u)) if u.is_instance_admin);
                admin.then(|| view! {
                    <h2 class="nav-heading">"Administration"</h2>
                    <ul>
                        <li><A href="/admin/users">"Users"</A></li>
                        <li><A href="/admin/audit">"Audit log"</A></li>
                        <li><A href="/admin/jobs">"System jobs"</A></li>
                    </ul>
                })
            })}
        </Transition>
    }
}

#[component]
fn ProjectSwitcher(slug: Memo<Option<String>>, projects: ProjectsResource) -> impl IntoView {
    let navigate = use_navigate();
    let on_change = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let target = if value.is_empty() { "/".to_string() } else { format!("/p/{value}") };
        navigate(&target, Default::default());
    };
    view! {
        <Transition fallback=|| ()>
            {
                let on_change = on_change.clone();
                move || {
                    let on_change = on_change.clone();
                    Suspend::new(async move {
                        let list = projects.await.unwrap_or_default();
                        let current = slug.get().unwrap_or_default();
                        view! {
                            <select class="switcher" aria-label="Switch project" on:change=on_change>
                                <option value="" selected=current.is_empty()>"All projects"</option>
                                {list.into_iter().map(|p| {
                                    let selected = p.slug == current;
                                    view! { <option value=p.slug.clone() selected=selected>{p.name}</option> }
                                }).collect_view()}
                            </select>
                        }
                    })
                }
            }
        </Transition>
    }
}

#[component]
fn ThemeToggle() -> impl IntoView {
    let toggle = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let doc = document().document_element().expect("html element");
            let html: &web_sys::HtmlElement = wasm_bindgen::JsCast::unchecked_ref(&doc);
            let dark_now = match html.dataset().get("theme") {
                Some(t) => t == "dark",
                None => window()
                    .match_media("(prefers-color-scheme: dark)")
                    .ok()
                    .flatten()
                    .map(|m| m.matches())
                    .unwrap_or(false),
            };
            let next = if dark_now { "light" } else { "dark" };
            let _ = html.dataset().set("theme", next);
            if let Ok(Some(storage)) = window().local_storage() {
                let _ = storage.set_item("trellis-theme", next);
            }
        }
    };
    view! {
        <button type="button" class="icon-button" aria-label="Toggle dark theme" title="Toggle dark theme" on:click=toggle>
            "◐"
        </button>
    }
}

#[component]
fn UserMenu(user: Me) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_out.value().get() {
            go_to("/login");
        }
    });
    let label = if user.display_name.is_empty() { user.email.clone() } else { user.display_name.clone() };
    view! {
        <details class="usermenu">
            <summary aria-label="Account menu">{label}</summary>
            <div class="menu">
                <p class="muted">{user.email.clone()}</p>
                {user.is_instance_admin.then(|| view! { <p class="badge">"instance admin"</p> })}
                <a href="/settings/tokens">"API tokens"</a>
                <a href="/settings/password">"Change password"</a>
                <ActionForm action=sign_out>
                    <button type="submit">"Sign out"</button>
                </ActionForm>
            </div>
        </details>
    }
}
