//! The audit log with filters, for a project (its admins) and for the instance (instance admins).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::audit::{list_audit, AUDIT_PAGE};
use crate::components::widgets::{ErrorBox, Loading};
use crate::model::{fmt_time, AuditQuery, AuditRow};

fn query_from_url(project: Option<String>) -> Memo<AuditQuery> {
    let q = use_query_map();
    Memo::new(move |_| {
        let q = q.read();
        let text = |k: &str| q.get(k).filter(|v| !v.is_empty());
        AuditQuery {
            project: project.clone(),
            action: text("action"),
            user: text("user"),
            since: text("since"),
            until: text("until"),
            before: q.get("before").and_then(|v| v.parse().ok()),
        }
    })
}

fn older_link(q: &AuditQuery, rows: &[AuditRow]) -> Option<String> {
    if (rows.len() as i64) < AUDIT_PAGE {
        return None;
    }
    let last = rows.last()?.id;
    let mut parts = vec![format!("before={last}")];
    for (k, v) in [("action", &q.action), ("user", &q.user), ("since", &q.since), ("until", &q.until)] {
        if let Some(v) = v {
            parts.push(format!("{k}={}", crate::model::url_encode(v)));
        }
    }
    Some(format!("?{}", parts.join("&")))
}

#[component]
fn AuditView(query: Memo<AuditQuery>) -> impl IntoView {
    let rows = Resource::new(move || query.get(), list_audit);
    let q = move || query.get();
    view! {
        <form method="get" class="filters" aria-label="Filter the audit log">
            <label>"Action starts with"<input type="text" name="action" placeholder="member." value=move || q().action.unwrap_or_default()/></label>
            <label>"User"<input type="text" name="user" placeholder="email" value=move || q().user.unwrap_or_default()/></label>
            <label>"From"<input type="date" name="since" value=move || q().since.unwrap_or_default()/></label>
            <label>"To"<input type="date" name="until" value=move || q().until.unwrap_or_default()/></label>
            <button type="submit">"Apply filters"</button>
            <a href="?">"Clear"</a>
        </form>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let list = match rows.await { Ok(l) => l, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                if list.is_empty() {
                    return view! { <p class="empty">"No audit entries match."</p> }.into_any();
                }
                let older = older_link(&query.get_untracked(), &list);
                view! {
                    <table class="table" aria-label="Audit log">
                        <thead><tr><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Project"</th><th>"Details"</th><th>"From"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|a| view! {
                                <tr>
                                    <td>{fmt_time(&a.at)}</td>
                                    <td>{a.user_email.clone()}</td>
                                    <td><code>{a.action.clone()}</code></td>
                                    <td>{format!("{} {}", a.target_type, a.target_id)}</td>
                                    <td>{a.project_slug.clone().unwrap_or_default()}</td>
                                    <td class="details">{a.details.clone()}</td>
                                    <td>{a.ip.clone().unwrap_or_default()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    {older.map(|href| view! { <a class="button" href=href>"Older entries"</a> })}
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn ProjectAudit() -> impl IntoView {
    let ctx = crate::pages::project::use_project();
    let query = query_from_url(Some(ctx.slug.get_untracked()));
    view! {
        <Title text="Audit log · Trellis"/>
        <h2>"Audit log"</h2>
        <AuditView query/>
    }
}

#[component]
pub fn InstanceAudit() -> impl IntoView {
    let query = query_from_url(None);
    view! {
        <Title text="Audit log · Trellis"/>
        <h1>"Audit log"</h1>
        <p class="muted">"Every change in every project, and sign-ins."</p>
        <AuditView query/>
    }
}
