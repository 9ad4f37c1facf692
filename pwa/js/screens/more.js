// "Thêm": send now, export unsent records, storage, language, sign out.

import { forgetPersonalData, getMeta, setMeta } from "../db.js";
import { _, formatNumber, loadCatalogue, ngettext, currentLocale } from "../i18n.js";
import { entriesFor } from "../outbox.js";
import { h, icon, mount, toast } from "../ui.js";
import { requestSync as sync, store } from "../store.js";

export async function render(main) {
  const entries = await entriesFor(store.member?.id);
  let storage = null;
  if (navigator.storage?.estimate) {
    const { usage = 0, quota = 0 } = await navigator.storage.estimate();
    const persisted = navigator.storage.persisted ? await navigator.storage.persisted() : false;
    storage = _("Using %(used)s MB of %(quota)s MB on this phone.", {
      used: formatNumber(Math.round(usage / 1e5) / 10), quota: formatNumber(Math.round(quota / 1e6)),
    }) + " " + (persisted ? _("Kept safe from automatic clean-up.") : _("The phone may clean it up when full."));
  }
  mount(main,
    h("h1", {}, _("More")),
    store.member ? h("p", { class: "lead" }, store.member.name) : null,
    h("h2", {}, _("Sending")),
    h("p", {}, entries.length
      ? ngettext("%(num)s record is not sent yet.", "%(num)s records are not sent yet.", entries.length)
      : _("Everything has been sent.")),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "send-now", onclick: async () => { await sync({ force: true }); render(main); } }, icon("refresh-cw"), _("Send now")),
      entries.length ? h("button", { type: "button", id: "export", onclick: () => exportUnsent(entries) }, icon("download"), _("Export unsent records")) : null),
    h("p", { class: "hint" }, _("No network for days? Export the unsent records and send the file to your coordinator by Zalo.")),
    storage ? [h("h2", {}, _("Storage")), h("p", {}, storage)] : null,
    await notificationsPart(),
    h("h2", {}, _("Language")),
    h("div", { class: "actions" },
      [["vi", "Tiếng Việt"], ["en", "English"]].map(([code, name]) => h("button", {
        type: "button", lang: code, "aria-pressed": currentLocale() === code ? "true" : "false",
        onclick: async () => { await loadCatalogue(code); location.reload(); },
      }, name))),
    h("h2", {}, _("Account")),
    h("button", { type: "button", id: "sign-out", onclick: () => signOut(entries.length) }, icon("log-out"), _("Sign out")));
}

async function exportUnsent(entries) {
  const file = {
    format: "langso-unsent",
    version: 1,
    exported_at: new Date().toISOString(),
    member: { id: store.member.id, name: store.member.name },
    ops: entries.map(({ op_id, entity, id, base_version, data }) => ({ op_id, entity, id, base_version, data })),
  };
  const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-");
  const blob = new File([JSON.stringify(file)], `langso-chua-gui-${stamp}.json`, { type: "application/json" });
  if (navigator.canShare?.({ files: [blob] })) {
    try {
      await navigator.share({ files: [blob], title: _("Unsent records") });
      return;
    } catch {
      // fall back to a download
    }
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = blob.name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  toast(_("The file is in your downloads."));
}

async function signOut(unsent) {
  const message = unsent
    ? ngettext(
        "%(num)s record is not sent yet. It stays on this phone and is sent when you sign in again. Sign out?",
        "%(num)s records are not sent yet. They stay on this phone and are sent when you sign in again. Sign out?",
        unsent)
    : _("Sign out of Làng Số on this phone?");
  if (!confirm(message)) return;
  const marker = store.boot.session;
  await forgetPersonalData();
  await endServerSession(marker);
  location.assign("/login");
}

// End the session on the server too. Offline, remember WHICH session to end, and end it before
// anything else the next time the app opens with a network (JavaScript cannot remove the
// HttpOnly cookie). A session begun later (signed in again) is left alone.
export async function endServerSession(marker) {
  await setMeta("pendingLogout", marker || true);
  try {
    const me = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (me.status === 401) {
      await setMeta("pendingLogout", false); // already over on the server
      return;
    }
    const { csrf_token: token } = await me.json();
    const response = await fetch("/logout", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token },
    });
    if (response.ok) await setMeta("pendingLogout", false);
  } catch {
    // offline: pendingLogout stays until the app next opens with a network
  }
}

// Notifications (a returned session, a new guide), where the browser and the server can.
async function notificationsPart() {
  if (!("PushManager" in window) || !navigator.serviceWorker) return null;
  const keyResponse = await fetch("/api/v1/push/key", { credentials: "same-origin" }).catch(() => null);
  if (!keyResponse?.ok) return null;
  const { public_key: key } = await keyResponse.json();
  const registration = await navigator.serviceWorker.ready;
  const current = await registration.pushManager.getSubscription();
  const status = h("p", { role: "status" }, current ? _("Notifications are on for this phone.") : "");
  const button = h("button", { type: "button", id: "notify", onclick: async () => {
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        status.textContent = _("Notifications are blocked. Allow them in the browser settings.");
        return;
      }
      const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      await fetch("/api/v1/push/subscribe", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": (await getMeta("csrf")) || "" },
        body: JSON.stringify(subscription),
      });
      status.textContent = _("Notifications are on for this phone.");
    } catch {
      status.textContent = _("Notifications could not be turned on.");
    }
  } }, _("Get notifications"));
  return [h("h2", {}, _("Notifications")), current ? null : button, status];
}
