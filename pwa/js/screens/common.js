// Labels shared by the screens.

import { _, currentLocale, formatNumber, ngettext } from "../i18n.js";
import { store } from "../store.js";
import { fold, matches } from "../text.js";

export function householdLabel(session, householdsById) {
  if (!session.data.household_id) return _("Walk-in");
  const household = householdsById.get(session.data.household_id);
  return household ? `${household.data.head_name} (${household.data.code})` : _("Household");
}

export function serviceName(code) {
  const service = store.boot.services.find((s) => s.code === code);
  if (!service) return code;
  return currentLocale() === "vi" ? service.name_vi : service.name_en;
}

export function servicesLabel(session) {
  return (session.data.services || []).map((s) => serviceName(s.service)).join(", ");
}

export function villageName(id) {
  return store.boot.villages.find((v) => v.id === id)?.name || "";
}

export function activeVillages() {
  return store.boot.villages.filter((v) => !v.merged_into_id);
}

export const SKILLS = [
  ["vneid", () => _("VNeID")],
  ["public_services", () => _("Online public services")],
  ["social_insurance", () => _("Social and health insurance")],
  ["payment", () => _("Paying online")],
  ["shopping", () => _("Shopping online")],
  ["safety", () => _("Staying safe online")],
  ["local_platforms", () => _("Commune platforms")],
];

export const FIVE_SKILLS = ["public_services", "shopping", "payment", "safety", "local_platforms"];

export const OUTCOMES = [
  ["done", () => _("Done")],
  ["not_finished", () => _("Not finished")],
  ["could_not", () => _("Could not")],
];

export const REASONS = [
  ["missing_papers", () => _("Missing papers")],
  ["no_smartphone", () => _("No smartphone")],
  ["no_signal", () => _("No signal")],
  ["system_error", () => _("System error")],
  ["needs_police", () => _("Needs the police")],
  ["other", () => _("Other")],
];

// Households with their name folded (`key`: sorting and the duplicate check), as saved.
export function withKeys(households) {
  return households.map((x) => ({ ...x, key: x.key || fold(x.data.head_name) }));
}

// What a household is found by: the head's name, the house number or hamlet, the village, the
// card code, the phone's last digits; without accents, every word typed must be there.
function searchKey(x) {
  const d = x.data;
  const phone = (d.phone || "").replace(/\D/g, "");
  return fold([d.head_name, d.address, villageName(d.village_id), d.code, phone.slice(-4)].join(" "));
}

// Every household of the phone that matches `query` (all of them when it is empty), by name.
export function findHouseholds(households, query) {
  const code = query.trim().toUpperCase();
  const found = query.trim()
    ? households.filter((x) => x.data.code === code || matches(query, (x.search ||= searchKey(x))))
    : households.slice();
  const exact = found.filter((x) => x.data.code === code);
  const rest = found.filter((x) => x.data.code !== code);
  rest.sort((a, b) => (a.key || "").localeCompare(b.key || "") || a.data.code.localeCompare(b.data.code));
  return [...exact, ...rest];
}

// "Hiện 50 trong 2.914 hộ": never a silent cap.
export function shownOf(shown, total) {
  if (!total) return _("No household matches.");
  if (shown >= total) return ngettext("%(num)s household", "%(num)s households", total, { num: formatNumber(total) });
  return _("Showing %(shown)s of %(total)s households", { shown: formatNumber(shown), total: formatNumber(total) });
}
