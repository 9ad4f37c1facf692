// "Ghi lượt hỗ trợ": log a session (or fix one). A repeat household with one service done is
// four taps from the home screen: Log, the household, the service (the volunteer's most used
// come first), Save. A walk-in is four too (its village is the last one used), a new household
// eight and its name (the new household comes back here, chosen). Save stays on screen.

import { all, get } from "../db.js";
import { _, currentLocale, formatNumber, ngettext } from "../i18n.js";
import { uuid7 } from "../ids.js";
import { saveRecord } from "../outbox.js";
import { fold, maskSecrets, matches, nfc } from "../text.js";
import { addDays, chips, field, h, icon, mount, todayISO } from "../ui.js";
import { go, saved } from "../router.js";
import { store } from "../store.js";
import { activeVillages, findHouseholds, OUTCOMES, REASONS, SKILLS, serviceName, shownOf, withKeys } from "./common.js";
import { scanCode } from "./scan.js";

const MINUTES = [5, 10, 15, 30, 60];
const PICK = 20; // households listed at a time in the picker
const DOSSIER = /^[A-Za-z0-9./-]{1,40}$/;
// A bare 9- or 12-digit number is a citizen ID, not a dossier code (the server refuses it too).
const looksLikeId = (code) => /^[0-9./-]+$/.test(code) && [9, 12].includes(code.replace(/\D/g, "").length);
let form = null;

function localInputValue(date) {
  const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function blank(householdId, household) {
  return {
    id: uuid7(),
    version: 0,
    existing: null,
    household_id: householdId || null,
    village_id: household?.data.village_id || null,
    walk_in: false,
    services: [],
    minutes: 15,
    people_helped: 1,
    notes: "",
    follow_up_on: null,
    follow_pick: false,
    occurred_at: localInputValue(new Date()),
    guide_slug: null,
    query: "",
    shown: PICK,
    errors: {},
  };
}

function fromSession(session) {
  const d = session.data;
  return {
    ...blank(d.household_id),
    id: session.id,
    version: session.version || 0,
    existing: session,
    village_id: d.village_id,
    walk_in: !d.household_id,
    services: d.services.map((s) => ({ ...s })),
    minutes: d.minutes,
    people_helped: d.people_helped,
    notes: d.notes || "",
    follow_up_on: d.follow_up_on,
    follow_pick: Boolean(d.follow_up_on),
    occurred_at: localInputValue(new Date(d.occurred_at)),
    guide_slug: d.guide_slug,
    detailsOpen: Boolean(d.notes || d.people_helped > 1 || d.guide_slug),
  };
}

export async function render(main, id, householdParam) {
  const households = await all("households");
  if (id) {
    const session = await get("sessions", id);
    if (!session) return mount(main, h("p", { class: "alert" }, _("This session is not on this phone.")));
    form = fromSession(session);
  } else {
    form = blank(householdParam, households.find((x) => x.id === householdParam));
  }
  form.households = withKeys(households);
  const sessions = (await all("sessions")).filter((s) => !s.data.deleted)
    .sort((a, b) => b.data.occurred_at.localeCompare(a.data.occurred_at));
  form.recent = recentHouseholds(households, sessions);
  form.favourites = mostUsed(sessions);
  form.lastVillage = sessions[0]?.data.village_id || null; // where the volunteer worked last
  draw(main);
}

// The services this volunteer logs most (at most 6, used at least twice), most used first.
function mostUsed(sessions) {
  const uses = new Map();
  for (const s of sessions.slice(0, 500)) {
    for (const line of s.data.services || []) uses.set(line.service, (uses.get(line.service) || 0) + 1);
  }
  const active = new Set(store.boot.services.map((s) => s.code));
  return [...uses].filter(([code, n]) => n >= 2 && active.has(code))
    .sort((a, b) => b[1] - a[1]).slice(0, 6).map(([code]) => code);
}

function recentHouseholds(households, sessions) {
  const byId = new Map(households.map((x) => [x.id, x]));
  const seen = [];
  for (const s of sessions) {
    const hh = byId.get(s.data.household_id);
    if (hh && !seen.includes(hh)) seen.push(hh);
    if (seen.length === 6) break;
  }
  return seen;
}

function draw(main) {
  const approved = form.existing?.review_state === "approved";
  if (approved) {
    return mount(main,
      h("h1", {}, _("Session")),
      h("p", { class: "alert" }, _("The coordinator approved this session. It can no longer be changed.")),
      h("p", { class: "back" }, h("a", { href: "#/" }, `← ${_("Today")}`)));
  }
  const e = form.errors;
  mount(main,
    h("h1", {}, form.existing ? _("Fix the session") : _("Log a session")),
    form.existing?.review_state === "returned"
      ? h("p", { class: "alert", role: "status" }, _("Coordinator's comment: %(comment)s", { comment: form.existing.review_comment || "" }))
      : null,
    e.form ? h("p", { class: "alert", role: "alert" }, e.form) : null,
    householdPart(main),
    h("h2", { id: "services-title" }, _("What did you help with?")),
    e.services ? h("p", { class: "error", role: "alert" }, e.services) : null,
    servicesPart(main),
    form.services.length ? outcomePart(main) : null,
    h("h2", {}, _("Time spent")),
    chips("minutes", MINUTES.map((m) => [m, _("%(n)s min", { n: m })]), form.minutes, (m) => {
      form.minutes = m;
      draw(main);
    }, { label: _("Time spent") }),
    detailsPart(main),
    form.existing
      ? h("div", { class: "actions" }, h("button", { type: "button", class: "danger", onclick: () => remove(main) }, _("Delete")))
      : null,
    // Always on screen, above the bottom bar, with what is chosen so far.
    h("div", { class: "save-bar" },
      h("span", { class: "chosen", id: "chosen", "aria-live": "polite" }, form.services.length
        ? ngettext("%(num)s service chosen", "%(num)s services chosen", form.services.length)
        : _("No service chosen yet")),
      h("button", { type: "button", class: "primary", id: "save", onclick: () => save(main) }, _("Save")),
      h("a", { href: "#/", class: "button" }, _("Cancel"))),
  );
}

function householdPart(main) {
  if (form.walk_in && !form.village_id) {
    // The village of the last visit, or the only one: one tap less for the usual case.
    const villages = activeVillages();
    form.village_id = villages.find((v) => v.id === form.lastVillage)?.id || (villages.length === 1 ? villages[0].id : null);
  }
  const chosen = form.households.find((x) => x.id === form.household_id);
  if (chosen) {
    return h("section", { class: "picked" },
      h("h2", {}, _("Household")),
      h("p", { class: "picked-name" }, `${chosen.data.head_name} (${chosen.data.code})`),
      h("button", { type: "button", onclick: () => { form.household_id = null; draw(main); } }, _("Choose another")));
  }
  if (form.walk_in) {
    return h("section", {},
      h("h2", {}, _("Walk-in")),
      villageSelect(),
      h("button", { type: "button", onclick: () => { form.walk_in = false; draw(main); } }, _("Choose a household instead")));
  }
  const input = h("input", { type: "search", value: form.query, autocomplete: "off", oninput: (ev) => {
    form.query = ev.target.value;
    form.shown = PICK;
    main.querySelector("#household-results").replaceWith(resultsPart(main));
  } });
  return h("section", {},
    h("h2", {}, _("Household")),
    form.errors.household ? h("p", { class: "error", role: "alert" }, form.errors.household) : null,
    field("household-search", _("Search by name, house number, village or card code"), input),
    resultsPart(main),
    h("div", { class: "actions" },
      "BarcodeDetector" in window
        ? h("button", { type: "button", onclick: () => scan(main) }, icon("camera"), _("Scan the card"))
        : null,
      h("button", { type: "button", onclick: () => { form.walk_in = true; draw(main); } }, _("Walk-in, no household")),
      h("a", { class: "button", href: "#/household/new?log" }, icon("user-plus"), _("New household"))));
}

// The recent households before anything is typed; then every match, PICK at a time, counted.
function resultsPart(main) {
  const pick = (x) => h("li", {}, h("button", { type: "button", class: "pick", onclick: () => {
    form.household_id = x.id;
    form.village_id = x.data.village_id;
    draw(main);
  } }, `${x.data.head_name} · ${x.data.code}`,
    x.data.address ? h("small", {}, ` ${x.data.address}`) : null));
  if (!form.query.trim()) {
    return h("div", { id: "household-results" },
      form.recent.length ? h("p", { class: "hint" }, _("Recently helped")) : null,
      h("ul", { class: "pick-list" }, form.recent.map(pick)));
  }
  const found = findHouseholds(form.households, form.query);
  const shown = found.slice(0, form.shown);
  return h("div", { id: "household-results" },
    h("p", { class: "count", role: "status" }, shownOf(shown.length, found.length)),
    h("ul", { class: "pick-list" }, shown.map(pick)),
    found.length > shown.length
      ? h("button", { type: "button", onclick: () => {
          form.shown += PICK;
          main.querySelector("#household-results").replaceWith(resultsPart(main));
        } }, _("Show %(n)s more", { n: formatNumber(Math.min(PICK, found.length - shown.length)) }))
      : null);
}

async function scan(main) {
  const code = await scanCode();
  if (!code) return;
  const found = form.households.find((x) => x.data.code === code || code.endsWith(`/${x.data.code}`));
  if (found) {
    form.household_id = found.id;
    form.village_id = found.data.village_id;
  } else {
    form.query = code;
  }
  draw(main);
}

function villageSelect() {
  const select = h("select", { onchange: (ev) => { form.village_id = ev.target.value || null; } },
    h("option", { value: "" }, _("Choose…")),
    activeVillages().map((v) => h("option", { value: v.id, selected: v.id === form.village_id }, v.name)));
  return field("village", _("Village"), select, { error: form.errors.village });
}

function servicesPart(main) {
  const selected = form.services.map((s) => s.service);
  const toggle = (code) => {
    const i = form.services.findIndex((s) => s.service === code);
    if (i >= 0) form.services.splice(i, 1);
    else form.services.push({ service: code, outcome: "done", reason: null, dossier_code: null });
    draw(main);
  };
  const favourites = form.favourites || [];
  const sets = [];
  if (favourites.length) sets.push([_("You do most often"), favourites]);
  for (const [skill, label] of SKILLS) {
    const codes = store.boot.services.filter((s) => s.skill === skill && !favourites.includes(s.code)).map((s) => s.code);
    if (codes.length) sets.push([label(), codes]);
  }
  const groups = sets.map(([title, codes]) => h("div", { class: "service-group" },
    h("h3", {}, title),
    chips("service", codes.map((code) => [code, serviceName(code)]), selected, toggle, { multiple: true, label: title })));
  const container = h("div", { class: "service-groups", "aria-labelledby": "services-title" }, groups);
  const none = h("p", { class: "hint", hidden: true }, _("No service matches. Clear the box to see them all."));
  // Filter in place, without a redraw: the box keeps its focus while the volunteer types.
  const filter = (query) => {
    form.filter = query;
    let shown = 0;
    for (const group of container.querySelectorAll(".service-group")) {
      let any = false;
      for (const chip of group.querySelectorAll(".chip")) {
        const on = matches(query, fold(chip.textContent)) || chip.getAttribute("aria-pressed") === "true";
        chip.hidden = !on;
        any ||= on;
      }
      group.hidden = !any;
      shown += any ? 1 : 0;
    }
    none.hidden = shown > 0;
  };
  const box = h("input", { type: "search", autocomplete: "off", value: form.filter || "", oninput: (ev) => filter(ev.target.value) });
  if (form.filter) filter(form.filter);
  return h("div", {},
    field("service-filter", _("Find a service (no accents needed)"), box),
    none,
    container);
}

function outcomePart(main) {
  return h("section", {},
    h("h2", {}, _("How did it go?")),
    form.services.map((line, i) => {
      const service = store.boot.services.find((s) => s.code === line.service);
      const error = form.errors[`line${i}`];
      return h("fieldset", { class: "line" },
        h("legend", {}, serviceName(line.service)),
        chips(`outcome-${i}`, OUTCOMES.map(([v, l]) => [v, l()]), line.outcome, (v) => {
          line.outcome = v;
          if (v === "done") line.reason = null;
          draw(main);
        }, { label: _("Outcome") }),
        line.outcome !== "done"
          ? [h("p", { class: "hint" }, _("Why?")), chips(`reason-${i}`, REASONS.map(([v, l]) => [v, l()]), line.reason, (v) => {
              line.reason = v;
              draw(main);
            }, { label: _("Why?") })]
          : null,
        error ? h("p", { class: "error", role: "alert" }, error) : null,
        service?.skill === "public_services"
          ? field(`dossier-${i}`, _("Dossier code, if one was filed"),
              h("input", { type: "text", value: line.dossier_code || "", maxlength: 40, autocomplete: "off",
                oninput: (ev) => { line.dossier_code = ev.target.value.trim() || null; } }),
              { error: form.errors[`dossier${i}`] })
          : null);
    }));
}

function detailsPart(main) {
  const today = todayISO();
  const followOptions = [[null, _("None")], [addDays(today, 3), _("In 3 days")], [addDays(today, 7), _("In a week")], ["pick", _("Pick a day")]];
  const followValue = form.follow_pick && ![addDays(today, 3), addDays(today, 7)].includes(form.follow_up_on) ? "pick" : form.follow_up_on;
  const details = h("details", { class: "more-details", open: Boolean(form.errors.people || form.errors.when || form.detailsOpen) },
    h("summary", {}, _("More details: people, time, guide, notes")),
    field("people", _("People helped"), h("input", { type: "number", min: 1, max: 50, inputmode: "numeric", value: form.people_helped,
      oninput: (ev) => { form.people_helped = Number(ev.target.value); } }), { error: form.errors.people }),
    field("when", _("When"), h("input", { type: "datetime-local", value: form.occurred_at, max: localInputValue(new Date()),
      oninput: (ev) => { form.occurred_at = ev.target.value; } }), { error: form.errors.when }),
    (store.boot.guides || []).length
      ? field("guide", _("Guide used (optional)"), h("select", { onchange: (ev) => { form.guide_slug = ev.target.value || null; } },
          h("option", { value: "" }, _("None")),
          store.boot.guides.map((g) => h("option", { value: g.slug, selected: g.slug === form.guide_slug },
            currentLocale() === "en" ? g.title_en || g.title : g.title))))
      : null,
    field("notes", _("Notes"), h("textarea", { rows: 3, maxlength: 2000, oninput: (ev) => { form.notes = ev.target.value; } }, form.notes),
      { hint: _("Never write ID numbers, passwords or OTP codes.") }));
  details.addEventListener("toggle", () => { form.detailsOpen = details.open; });
  return h("section", {},
    h("h3", { id: "follow-title" }, _("Follow-up")),
    chips("follow", followOptions, followValue, (v) => {
      form.follow_pick = v !== null;
      form.follow_up_on = v === "pick" ? addDays(today, 14) : v;
      draw(main);
    }, { label: _("Follow-up") }),
    followValue === "pick"
      ? field("follow-date", _("Follow-up day"), h("input", { type: "date", value: form.follow_up_on || "", min: today,
          oninput: (ev) => { form.follow_up_on = ev.target.value || null; } }), { error: form.errors.follow })
      : form.errors.follow ? h("p", { class: "error" }, form.errors.follow) : null,
    details);
}

function validate() {
  const errors = {};
  if (!form.household_id && !form.walk_in) errors.household = _("Choose a household, or a walk-in.");
  if (!form.village_id) errors.village = _("Choose the village.");
  if (!form.services.length) errors.services = _("Choose at least one service.");
  form.services.forEach((line, i) => {
    if (line.outcome !== "done" && !line.reason) errors[`line${i}`] = _("Choose why it was not done.");
    if (line.dossier_code && !DOSSIER.test(line.dossier_code)) errors[`dossier${i}`] = _("Letters, digits, dots, dashes or slashes only.");
    else if (line.dossier_code && looksLikeId(line.dossier_code)) {
      errors[`dossier${i}`] = _("This looks like an ID number, not a dossier code. Do not write ID numbers here.");
    }
  });
  const when = new Date(form.occurred_at);
  if (Number.isNaN(when.getTime())) errors.when = _("Enter the date and time.");
  else if (when.getTime() > Date.now() + 5 * 60000) errors.when = _("The time cannot be in the future.");
  if (!(form.people_helped >= 1 && form.people_helped <= 50)) errors.people = _("Between 1 and 50.");
  if (form.follow_up_on && form.follow_up_on < todayISO(when)) errors.follow = _("The follow-up cannot be before the session.");
  if (form.household_id && !form.village_id) {
    form.village_id = form.households.find((x) => x.id === form.household_id)?.data.village_id || null;
  }
  return errors;
}

function payload(deleted = false) {
  return {
    household_id: form.walk_in ? null : form.household_id,
    village_id: form.village_id,
    occurred_at: new Date(form.occurred_at).toISOString(),
    minutes: form.minutes,
    people_helped: form.people_helped,
    services: form.services.map((s) => ({ service: s.service, outcome: s.outcome, reason: s.outcome === "done" ? null : s.reason, dossier_code: s.dossier_code || null })),
    guide_slug: form.guide_slug,
    notes: maskSecrets(nfc(form.notes)),
    follow_up_on: form.follow_up_on,
    ...(deleted ? { deleted: true } : {}),
  };
}

async function store_(deleted) {
  await saveRecord("session", {
    id: form.id,
    version: form.version,
    data: payload(deleted),
    review_state: form.existing?.review_state === "returned" ? "new" : (form.existing?.review_state || "new"),
    review_comment: form.existing?.review_comment || "",
    conflict: form.existing?.conflict || false,
  }, store.member.id);
}

async function save(main) {
  form.errors = validate();
  if (Object.keys(form.errors).length) {
    draw(main);
    main.querySelector("[role=alert], .error")?.scrollIntoView({ block: "center" });
    return;
  }
  await store_(false);
  await saved();
  go("#/");
}

async function remove(main) {
  if (!confirm(_("Delete this session?"))) return;
  form.errors = {};
  await store_(true);
  await saved();
  go("#/");
}
