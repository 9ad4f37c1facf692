// The volunteer app: start-up, the routes, the bottom bar and the sync badge. The state is in
// store.js and the router in router.js, so that screens never import this module.

import { getMeta, setMeta } from "./db.js";
import { _, formatNumber, formatRelative, loadCatalogue, ngettext, pickLocale } from "./i18n.js";
import { counts } from "./outbox.js";
import { bootstrap, bootstrapCore, flush, onChange, status } from "./sync.js";
import { go, route, setRoutes } from "./router.js";
import { publish, setSender, store, subscribe } from "./store.js";
import { h, mount } from "./ui.js";
import * as home from "./screens/home.js";
import * as guides from "./screens/guides.js";
import * as households from "./screens/households.js";
import * as log from "./screens/log.js";
import * as more from "./screens/more.js";

setRoutes([
  [/^#?\/?$/, home.render],
  [/^#\/log(?:\/([\w-]+))?(?:\?household=([\w-]+))?$/, log.render],
  [/^#\/households$/, households.renderList],
  [/^#\/household\/new(\?log)?$/, (main, fromLog) => households.renderNew(main, {}, {}, null, Boolean(fromLog))],
  [/^#\/household\/([\w-]+)$/, households.renderOne],
  [/^#\/guides$/, guides.render],
  [/^#\/more$/, more.render],
]);

let loading = null; // {done, total} while a first start brings the households

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
  // "All sent" only once the server has confirmed what this phone sent; before any send, and
  // while offline with records waiting, the badge says they are not sent yet.
  const sentAt = status.lastSentAt;
  const offline = status.state === "offline" || navigator.onLine === false;
  let summary;
  if (waiting) summary = ngettext("%(num)s record waiting", "%(num)s records waiting", waiting);
  else if (sentAt) summary = _("All sent");
  else summary = _("Nothing to send yet");
  parts.push(h("span", { dataset: { waiting: String(waiting) }, class: "waiting" }, summary));
  if (rejected) parts.push(h("a", { href: "#/", class: "warn" }, ngettext("%(num)s needs fixing", "%(num)s need fixing", rejected)));
  if (loading) {
    parts.push(h("span", { class: "loading", id: "loading" }, _("Loading households: %(done)s of %(total)s",
      { done: formatNumber(loading.done), total: formatNumber(loading.total) })));
  }
  parts.push(h("span", { class: "last-sync" }, waiting && offline ? _("Offline, not sent yet") : lastSent(sentAt)));
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
  publish("data");
  go("#/");
  if (store.member.id !== before) await sync({ force: true });
}

async function loadBootstrap({ core = false, onProgress } = {}) {
  try {
    return await (core ? bootstrapCore() : bootstrap({ onProgress }));
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

// The member this browser is signed in as (auth.MEMBER_COOKIE), or null.
function signedInAs() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("langso_member="));
  return found ? decodeURIComponent(found.split("=")[1]) : null;
}

// Everything from the server, behind the screen already drawn: progress in the badge on a first
// start, then the screen redraws with what came.
async function refreshFromServer(firstStart) {
  const total = store.boot.households_total || 0;
  if (firstStart && total) {
    loading = { done: 0, total };
    refreshBadge();
  }
  const data = await loadBootstrap({
    onProgress: firstStart && total ? (done) => {
      loading = { done: Math.min(done, total), total };
      refreshBadge();
    } : null,
  });
  loading = null;
  if (data) {
    await loadStore();
    publish("data");
  } else {
    refreshBadge();
  }
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
  // A returning start draws the phone's own data at once, online or not, and hears from the
  // server behind it. A first start (or one after someone else signed in on this browser)
  // waits only for the member, villages and catalogue, then brings the households behind.
  const returning = Boolean(store.member) && (signedInAs() === store.member.id || !navigator.onLine);
  step("bootstrap");
  // Nobody signed in on this browser and nothing saved: straight to the sign-in page, without
  // asking the server for data it would refuse.
  if (!store.member && !signedInAs() && navigator.onLine) return location.replace("/login?next=/app");
  if (!returning) {
    const core = await loadBootstrap({ core: true });
    if (core) await loadStore();
  }
  onChange(() => refreshBadge());
  setSender(sync);
  // A record saved or answered for, or changes from the server: the badge and the screen shown
  // follow (a redraw keeps the scroll position and leaves a half-filled form alone).
  let redrawing = null;
  let again = false;
  const redraw = () => {
    if (redrawing) {
      again = true;
      return;
    }
    redrawing = route({ redraw: true }).finally(() => {
      redrawing = null;
      if (again) {
        again = false;
        redraw();
      }
    });
  };
  subscribe(async (topic) => {
    if (topic === "data") await loadStore(); // villages may have changed with the data
    refreshBadge();
    if (document.body.dataset.ready === "true") redraw();
  });
  window.addEventListener("hashchange", () => route());
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
  if (navigator.onLine && store.member) await refreshFromServer(!returning);
  document.body.dataset.loaded = "true"; // for tests: the start's exchange with the server is over
  await sync({ force: true });
}

start().catch((error) => {
  console.error(error);
  mount(document.getElementById("screen"),
    h("p", { class: "alert", role: "alert" }, _("Something went wrong. Please reload the app.")));
  document.body.dataset.ready = "error";
});
