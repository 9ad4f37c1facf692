// Households: find one, add one (with explicit consent), see its history and its QR card.

import { all, get } from "../db.js";
import { _, formatDate, formatNumber } from "../i18n.js";
import { uuid7 } from "../ids.js";
import { saveRecord } from "../outbox.js";
import { fold, maskSecrets, nfc } from "../text.js";
import { field, h, icon, mount } from "../ui.js";
import { go, saved } from "../router.js";
import { store } from "../store.js";
import { activeVillages, findHouseholds, FIVE_SKILLS, shownOf, SKILLS, servicesLabel, villageName, withKeys } from "./common.js";
import { qrSvg } from "./qr.js";

const PHONE = /^(?:\+?84|0)(?:3|5|7|8|9)\d{8}$/;

const PAGE = 50;

export async function renderList(main) {
  const households = withKeys(await all("households"));
  const list = h("ul", { class: "pick-list", id: "households" });
  const count = h("p", { class: "count", id: "households-count", role: "status" });
  const more = h("button", { type: "button", id: "households-more" });
  let found = [];
  let shown = 0;
  const item = (x) => h("li", {},
    h("a", { class: "pick", href: `#/household/${x.id}` }, `${x.data.head_name} · ${x.data.code}`,
      h("small", {}, ` ${[x.data.address, villageName(x.data.village_id)].filter(Boolean).join(", ")}`)));
  const showMore = () => {
    const next = found.slice(shown, shown + PAGE);
    list.append(...next.map(item));
    shown += next.length;
    count.textContent = shownOf(shown, found.length);
    more.hidden = shown >= found.length;
    more.textContent = _("Show %(n)s more", { n: formatNumber(Math.min(PAGE, found.length - shown)) });
  };
  more.onclick = () => {
    main.dataset.dirty = "true"; // the longer list stays: a redraw would fold it back to 50
    showMore();
  };
  const fill = (query) => {
    found = findHouseholds(households, query);
    shown = 0;
    list.replaceChildren();
    showMore();
  };
  const input = h("input", { type: "search", autocomplete: "off", oninput: (ev) => fill(ev.target.value) });
  fill("");
  mount(main,
    h("h1", {}, _("Households")),
    h("a", { class: "button primary", href: "#/household/new" }, icon("user-plus"), _("New household")),
    field("search", _("Search by name, house number, village or card code, with or without accents"), input),
    count,
    list,
    more);
}

function newCode() {
  // 8 characters from an alphabet without look-alikes (no I, L, O, U, 0, 1).
  const alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ";
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

// `fromLog`: opened from the log form, which gets the new household back, chosen.
export async function renderNew(main, values = {}, errors = {}, duplicates = null, fromLog = false) {
  const villages = activeVillages();
  const usual = villages.length === 1 ? villages[0].id : store.lastVillage || "";
  const v = { village_id: usual, head_name: "", address: "", phone: "", consent: false, fromLog, ...values };
  const village = h("select", { required: true, onchange: (ev) => { v.village_id = ev.target.value; } },
    h("option", { value: "" }, _("Choose…")),
    villages.map((x) => h("option", { value: x.id, selected: x.id === v.village_id }, x.name)));
  const name = h("input", { type: "text", maxlength: 80, autocomplete: "off", value: v.head_name,
    oninput: (ev) => { v.head_name = ev.target.value; } });
  const address = h("input", { type: "text", maxlength: 120, autocomplete: "off", value: v.address,
    oninput: (ev) => { v.address = ev.target.value; } });
  const phone = h("input", { type: "tel", inputmode: "tel", maxlength: 20, autocomplete: "off", value: v.phone,
    oninput: (ev) => { v.phone = ev.target.value; } });
  const consent = h("input", { type: "checkbox", id: "consent", checked: v.consent,
    onchange: (ev) => { v.consent = ev.target.checked; } });
  mount(main,
    h("h1", {}, _("New household")),
    h("p", { class: "back" }, v.fromLog
      ? h("a", { href: "#/log" }, `← ${_("Log a session")}`)
      : h("a", { href: "#/households" }, `← ${_("Households")}`)),
    errors.form ? h("p", { class: "alert", role: "alert" }, errors.form) : null,
    duplicates?.length
      ? h("div", { class: "alert", role: "alert" },
          h("p", {}, _("This household may already exist:")),
          h("ul", {}, duplicates.map((d) => h("li", {}, h("a", { href: `#/household/${d.id}` }, `${d.data.head_name} · ${d.data.code}`)))),
          h("p", {}, _("Save anyway only if it is a different household.")))
      : null,
    field("village", _("Village"), village, { error: errors.village }),
    field("head-name", _("Head of household"), name, { error: errors.head_name }),
    field("address", _("House number, lane or hamlet (optional)"), address,
      { hint: _("As the family says it, e.g. Số 12, xóm Đông.") }),
    field("phone", _("Phone (optional)"), phone, { error: errors.phone }),
    h("div", { class: `field consent${errors.consent ? " has-error" : ""}` },
      h("label", { class: "choice", for: "consent" }, consent,
        _("The household agrees that the team keeps their name and phone to help them.")),
      errors.consent ? h("p", { class: "error" }, errors.consent) : null),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", onclick: () => saveNew(main, v, duplicates) },
        duplicates?.length ? _("Save anyway") : _("Save")),
      h("a", { class: "button", href: "#/log" }, _("No consent: log a walk-in"))));
}

async function saveNew(main, v, shownDuplicates) {
  const errors = {};
  const headName = maskSecrets(nfc(v.head_name)); // never an ID number, even in a name field
  const phone = v.phone.replace(/[\s.-]/g, "");
  if (!v.village_id) errors.village = _("Choose the village.");
  if (!headName) errors.head_name = _("Please enter a name.");
  if (phone && !PHONE.test(phone)) errors.phone = _("This phone number is not valid. Example: 0912 345 678.");
  if (!v.consent) errors.consent = _("Without consent, log the help as a walk-in: nothing personal is kept.");
  if (Object.keys(errors).length) return renderNew(main, v, errors, shownDuplicates);
  const key = fold(headName);
  const existing = withKeys(await all("households"));
  const duplicates = existing.filter((x) => (x.data.village_id === v.village_id && x.key === key)
    || (phone && x.data.phone && x.data.phone.replace(/\D/g, "").slice(-9) === phone.replace(/\D/g, "").slice(-9)));
  if (duplicates.length && !shownDuplicates?.length) return renderNew(main, v, {}, duplicates);
  const id = uuid7();
  await saveRecord("household", {
    id,
    version: 0,
    key,
    data: {
      village_id: v.village_id,
      code: newCode(),
      head_name: headName,
      address: maskSecrets(nfc(v.address)),
      phone: phone || null,
      consent: true,
      consent_at: new Date().toISOString(),
      skills: [],
    },
  }, store.member.id);
  store.lastVillage = v.village_id;
  await saved();
  go(v.fromLog ? `#/log?household=${id}` : `#/household/${id}`);
}

export async function renderOne(main, id) {
  const household = await get("households", id);
  if (!household) return mount(main, h("p", { class: "alert" }, _("This household is not on this phone.")));
  const sessions = (await all("sessions"))
    .filter((s) => s.data.household_id === id && !s.data.deleted)
    .sort((a, b) => b.data.occurred_at.localeCompare(a.data.occurred_at));
  const d = household.data;
  const skills = new Set(d.skills || []);
  const open = sessions.filter((s) => s.data.follow_up_on && !s.follow_up_done);
  // The card the family keeps: printed alone, one per A6 page (styles.css, page "card").
  const card = h("figure", { class: "qr card", id: "household-card" },
    h("p", { class: "card-brand" }, `Làng Số · ${_("Community digital-technology team")}`));
  card.append(qrSvg(d.code), h("figcaption", {}, h("strong", { class: "card-code" }, d.code), h("br"),
    d.head_name, h("br"), [villageName(d.village_id), store.boot.commune?.name].filter(Boolean).join(", ")));
  mount(main,
    h("h1", {}, d.head_name),
    h("p", { class: "back" }, h("a", { href: "#/households" }, `← ${_("Households")}`)),
    h("p", { class: "lead" }, [d.address, villageName(d.village_id), `${_("Card code")} ${d.code}`].filter(Boolean).join(" · ")),
    household.pending ? h("p", {}, _("Waiting to send")) : null,
    h("a", { class: "button primary", href: `#/log?household=${id}` }, icon("plus"), _("Log a session for this household")),
    h("h2", {}, _("What they can do now")),
    h("ul", { class: "skills" }, FIVE_SKILLS.map((code) => h("li", { class: skills.has(code) ? "yes" : "no" },
      `${skills.has(code) ? "✓" : "–"} ${SKILLS.find(([c]) => c === code)[1]()}`))),
    h("h2", {}, _("Open follow-ups")),
    open.length ? h("ul", {}, open.map((s) => h("li", {}, `${formatDate(s.data.follow_up_on)} · ${servicesLabel(s)}`)))
      : h("p", {}, _("None.")),
    h("h2", {}, _("History")),
    sessions.length ? h("ul", { class: "cards-list" }, sessions.map((s) => h("li", {},
      h("a", { href: `#/log/${s.id}` }, `${formatDate(s.data.occurred_at)} · ${servicesLabel(s)}`))))
      : h("p", {}, _("No sessions yet.")),
    h("h2", {}, _("QR card")),
    card,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: printCard }, icon("printer"), _("Print the card")),
      navigator.share ? h("button", { type: "button", onclick: () => navigator.share({ title: d.head_name, text: `${d.head_name}: ${d.code}` }).catch(() => {}) }, icon("share-2"), _("Share")) : null));
}

function printCard() {
  document.body.classList.add("print-card");
  window.addEventListener("afterprint", () => document.body.classList.remove("print-card"), { once: true });
  window.print();
}
