// "Hôm nay": what to fix, follow-ups due (overdue first), today's sessions.

import { all } from "../db.js";
import { _, formatDate, formatTime } from "../i18n.js";
import { entriesFor } from "../outbox.js";
import { h, icon, mount, todayISO } from "../ui.js";
import { store } from "../store.js";
import { householdLabel, servicesLabel } from "./common.js";

export async function render(main) {
  const today = todayISO();
  const [sessions, households, entries] = await Promise.all([
    all("sessions"), all("households"), entriesFor(store.member?.id),
  ]);
  const byId = new Map(households.map((x) => [x.id, x]));
  const mine = sessions.filter((s) => !s.data.deleted);
  const rejected = entries.filter((e) => e.state === "rejected");
  const returned = mine.filter((s) => s.review_state === "returned" && !s.pending);
  const followUps = mine
    .filter((s) => s.data.follow_up_on && !s.follow_up_done && s.data.follow_up_on <= addWeek(today))
    .sort((a, b) => a.data.follow_up_on.localeCompare(b.data.follow_up_on));
  const todays = mine
    .filter((s) => todayISO(new Date(s.data.occurred_at)) === today)
    .sort((a, b) => b.data.occurred_at.localeCompare(a.data.occurred_at));

  const fixList = [
    ...rejected.map((e) => h("li", {},
      h("a", { href: e.entity === "session" ? `#/log/${e.id}` : `#/household/${e.id}` },
        e.entity === "session" ? _("Session not accepted") : _("Household not accepted")),
      h("p", { class: "error" }, e.last_error?.message || ""),
      ...Object.values(e.last_error?.fields || {}).map((m) => h("p", { class: "error" }, m)))),
    ...returned.map((s) => h("li", { class: "returned" },
      h("a", { href: `#/log/${s.id}` }, _("Returned: %(what)s", { what: householdLabel(s, byId) })),
      h("p", {}, s.review_comment || ""))),
  ];

  mount(main,
    h("h1", {}, _("Today"), " ", h("small", {}, formatDate(new Date()))),
    h("a", { class: "button primary big", href: "#/log" }, icon("plus"), _("Log a session")),
    fixList.length ? [h("h2", {}, _("To fix")), h("ul", { class: "cards-list", id: "to-fix" }, fixList)] : null,
    h("h2", {}, _("Follow-ups")),
    followUps.length
      ? h("ul", { class: "cards-list" }, followUps.map((s) => h("li", { class: s.data.follow_up_on < today ? "overdue" : "" },
          h("a", { href: s.data.household_id ? `#/household/${s.data.household_id}` : `#/log/${s.id}` }, householdLabel(s, byId)),
          h("p", {}, s.data.follow_up_on < today
            ? _("Overdue since %(date)s", { date: formatDate(s.data.follow_up_on) })
            : _("Due %(date)s", { date: formatDate(s.data.follow_up_on) })))))
      : h("p", {}, _("No follow-ups due.")),
    h("h2", {}, _("Sessions today")),
    todays.length
      ? h("ul", { class: "cards-list", id: "today" }, todays.map((s) => h("li", {},
          h("a", { href: `#/log/${s.id}` }, `${formatTime(s.data.occurred_at)} · ${householdLabel(s, byId)}`),
          h("p", {}, servicesLabel(s), s.pending ? ` · ${_("waiting to send")}` : ""))))
      : h("p", {}, _("No sessions logged today.")),
  );
}

function addWeek(iso) {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 7);
  return d.toISOString().slice(0, 10);
}
