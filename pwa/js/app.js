// The volunteer app: start-up, the store, the router, the bottom bar and the sync badge.

import { getMeta, setMeta } from "./db.js";
import { _, formatRelative, loadCatalogue, ngettext, pickLocale } from "./i18n.js";
import { counts } from "./outbox.js";
import { bootstrap, flush, onChange, status } from "./sync.js";
import { h, mount, toast } from "./ui.js";
import * as home from "./screens/home.js";
import * as guides from "./screens/guides.js";
import * as households from "./screens/households.js";
import * as log from "./screens/log.js";
import * as more from "./screens/more.js";

export const store = {
  member: null,
  boot: { villages: [], services: [], guides: [], commune: null },
  counts: { waiting: 0, rejected: 0, total: 0 },
};

const ROUTES = [
  [/^#?\/?$/, home.render],
  [/^#\/log(?:\/([\w-]+))?(?:\?household=([\w-]+))?$/, log.render],
  [/^#\/households$/, households.renderList],
  [/^#\/household\/new$/, households.renderNew],
  [/^#\/household\/([\w-]+)$/, households.renderOne],
  [/^#\/guides$/, guides.render],
  [/^#\/more$/, more.render],
];

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const main = document.getElementById("screen");
  for (const [pattern, render] of ROUTES) {
    const match = location.hash.match(pattern);
    if (match) {
      try {
        await render(main, ...match.slice(1));
      } catch (error) {
        mount(main, h("p", { class: "alert", role: "alert" }, _("Something went wrong. Please reload the app.")));
        console.error(error);
      }
      highlightTab();
      main.focus({ preventScroll: true });
      return;
    }
  }
  go("#/");
}

function highlightTab() {
  const current = location.hash.split("/")[1] || "";
  for (const link of document.querySelectorAll(".tabs a")) {
    const tab = link.getAttribute("href").split("/")[1] || "";
    if (tab === current || (tab === "households" && current === "household")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

export async function refreshBadge() {
  if (!store.member) return;
  store.counts = await counts(store.member.id);
  const badge = document.getElementById("sync-badge");
  const { waiting, rejected } = store.counts;
  const parts = [];
  if (status.state === "paused-auth") {
    parts.push(h("a", { href: "/login?next=/app", class: "warn" }, _("Sign in again to send")));
  } else if (status.state === "sending") {
    parts.push(h("span", {}, _("Sending…")));
  }
  parts.push(h("span", { dataset: { waiting: String(waiting) }, class: "waiting" },
    waiting ? ngettext("%(num)s record waiting", "%(num)s records waiting", waiting) : _("All sent")));
  if (rejected) parts.push(h("a", { href: "#/", class: "warn" }, ngettext("%(num)s needs fixing", "%(num)s need fixing", rejected)));
  parts.push(h("span", { class: "last-sync" }, lastSent(status.lastSyncAt)));
  mount(badge, parts);
}

function lastSent(when) {
  if (!when) return _("Not sent yet");
  // Intl says "now" ("bây giờ") for the first minute, which reads oddly after "last sent".
  if (Date.now() - new Date(when).getTime() < 60000) return _("Sent just now");
  return _("Last sent %(when)s", { when: formatRelative(when) });
}

let flushing = null;

export async function sync({ force = false } = {}) {
  if (!store.member) return;
  if (flushing && force) await flushing;
  if (!flushing) {
    flushing = flush(store.member.id, { force }).finally(() => {
      flushing = null;
    });
  }
  await flushing;
  if (status.state === "member-changed") await switchMember();
  await refreshBadge();
}

// The server says someone else is signed in than the member this phone last opened for (a
// sign-in elsewhere, while the data of the app could not be loaded): load theirs, then send
// what is theirs. What the other member left waits for them.
async function switchMember() {
  const before = store.member?.id;
  const data = await loadBootstrap();
  if (!data) return;
  await loadStore();
  status.state = "idle";
  go("#/");
  if (store.member.id !== before) await sync({ force: true });
}

export async function saved() {
  toast(_("Saved on this phone"));
  if (navigator.storage?.persist) navigator.storage.persist();
  await refreshBadge();
  sync();
}

async function loadBootstrap() {
  try {
    return await bootstrap();
  } catch (error) {
    if (error.status === 401) {
      if (!(await getMeta("memberId"))) location.assign("/login?next=/app");
      status.state = "paused-auth";
    }
    return null;
  }
}

async function loadStore() {
  const boot = await getMeta("bootstrap");
  if (boot) {
    store.boot = boot;
    store.member = boot.member;
  }
}

function watchForUpdates() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js").then((registration) => {
    const offer = (worker) => {
      const banner = document.getElementById("update");
      banner.hidden = false;
      banner.querySelector("button").onclick = () => worker.postMessage("skipWaiting");
    };
    if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
    registration.addEventListener("updatefound", () => {
      const worker = registration.installing;
      worker?.addEventListener("statechange", () => {
        if (worker.state === "installed" && navigator.serviceWorker.controller) offer(worker);
      });
    });
  });
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (!reloading && !document.getElementById("update").hidden) {
      reloading = true;
      location.reload();
    }
  });
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data === "flush") sync();
  });
}

function step(name) {
  document.body.dataset.step = name; // where start-up is, for a test that waits too long
}

async function start() {
  step("catalogue");
  try {
    await loadCatalogue(pickLocale());
  } catch (error) {
    console.error("no catalogue", error); // the screens still work, in the source language
  }
  document.querySelectorAll("[data-t]").forEach((el) => {
    el.textContent = _(el.dataset.t);
  });
  step("worker");
  watchForUpdates();
  step("logout-check");
  const pending = await getMeta("pendingLogout");
  if (pending) {
    // Signed out while offline: end that session now, unless the person signed in again since.
    if (!navigator.onLine) return location.replace("/login?next=/app");
    const me = await fetch("/api/v1/me", { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null)).catch(() => null);
    if (me && (pending === true || me.session === pending)) {
      await more.endServerSession(pending);
      return location.replace("/login?next=/app");
    }
    await setMeta("pendingLogout", false);
  }
  step("store");
  await loadStore();
  step("bootstrap");
  if (navigator.onLine || !store.member) {
    const data = await loadBootstrap();
    if (data) await loadStore();
  }
  onChange(() => refreshBadge());
  window.addEventListener("hashchange", route);
  step("route");
  await route();
  step("badge");
  await refreshBadge();
  // Back online: everything waiting goes now, whatever backoff it was in.
  window.addEventListener("online", () => sync({ force: true }));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") sync();
  });
  setInterval(() => sync(), 30000);
  if ("SyncManager" in window) {
    navigator.serviceWorker?.ready.then((r) => r.sync.register("outbox")).catch(() => {});
  }
  // For the tests and for a "send now" button: flush on demand.
  window.langso = { sync, store, ready: true };
  document.body.dataset.ready = "true";
  await sync({ force: true });
}

start().catch((error) => {
  console.error(error);
  mount(document.getElementById("screen"),
    h("p", { class: "alert", role: "alert" }, _("Something went wrong. Please reload the app.")));
  document.body.dataset.ready = "error";
});
