// "Hôm nay": what to fix, follow-ups due (overdue first) that the volunteer can close or move,
// today's sessions.

import { all } from "../db.js";
import { _, formatDate, formatTime } from "../i18n.js";
import { entriesFor, saveFollowUp } from "../outbox.js";
import { addDays, h, icon, mount, toast, todayISO } from "../ui.js";
import { saved } from "../router.js";
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
      h("a", { href: e.entity === "household" ? `#/household/${e.id}` : `#/log/${e.id}` },
        { session: _("Session not accepted"), follow_up: _("Follow-up change not accepted") }[e.entity]
          || _("Household not accepted")),
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
      ? h("ul", { class: "cards-list", id: "follow-ups" }, followUps.map((s) => followUpItem(s, byId, today)))
      : h("p", {}, _("No follow-ups due.")),
    h("h2", {}, _("Sessions today")),
    todays.length
      ? h("ul", { class: "cards-list", id: "today" }, todays.map((s) => h("li", {},
          h("a", { href: `#/log/${s.id}` }, `${formatTime(s.data.occurred_at)} · ${householdLabel(s, byId)}`),
          h("p", {}, servicesLabel(s), s.pending ? ` · ${_("waiting to send")}` : ""))))
      : h("p", {}, _("No sessions logged today.")),
  );
}

function followUpItem(s, byId, today) {
  const change = async (what, message) => {
    await saveFollowUp(s, what, store.member.id);
    await saved();
    toast(message);
  };
  const moveTo = (day) => change({ follow_up_on: day }, _("Moved to %(date)s", { date: formatDate(day) }));
  const day = h("input", { type: "date", min: today, value: addDays(today, 7) });
  const label = householdLabel(s, byId);
  return h("li", { class: s.data.follow_up_on < today ? "overdue" : "", dataset: { session: s.id } },
    h("a", { href: s.data.household_id ? `#/household/${s.data.household_id}` : `#/log/${s.id}` }, label),
    h("p", {}, s.data.follow_up_on < today
      ? _("Overdue since %(date)s", { date: formatDate(s.data.follow_up_on) })
      : _("Due %(date)s", { date: formatDate(s.data.follow_up_on) }),
      ` · ${servicesLabel(s)}`),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", "aria-label": _("Done: %(what)s", { what: label }),
        onclick: () => change({ done: true }, _("Follow-up done")) }, icon("check"), _("Done"))),
    h("details", { class: "move" },
      h("summary", {}, _("Move to another day")),
      h("div", { class: "chips", role: "group", "aria-label": _("Move to another day") },
        [[1, _("Tomorrow")], [3, _("In 3 days")], [7, _("In a week")]].map(([n, text]) =>
          h("button", { type: "button", class: "chip", onclick: () => moveTo(addDays(today, n)) }, text))),
      h("div", { class: "field" },
        h("label", { for: `move-${s.id}` }, _("Or pick a day")),
        Object.assign(day, { id: `move-${s.id}` }),
        h("button", { type: "button", onclick: () => {
          if (!day.value || day.value < today) return toast(_("Pick today or a later day."));
          moveTo(day.value);
        } }, _("Move")))));
}

function addWeek(iso) {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 7);
  return d.toISOString().slice(0, 10);
}
