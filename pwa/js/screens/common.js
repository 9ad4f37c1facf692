// Labels shared by the screens.

import { _, currentLocale } from "../i18n.js";
import { store } from "../store.js";

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
