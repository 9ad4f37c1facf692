// Sending the outbox and pulling changes. One sender at a time across tabs (Web Locks).
// 401/403 pause and ask to sign in again; 5xx and network errors back off those entries and
// the others still go; rejected entries stay for the volunteer to fix. Nothing is dropped.

import { db, getMeta, setMeta } from "./db.js";
import { acknowledge, entriesFor, markRejected, markSending, postpone, STORE_OF, withFollowUp } from "./outbox.js";
import { publish } from "./store.js";
import { fold } from "./text.js";

const BATCH = 50; // small: a broken connection costs at most one batch
let BATCH_NOW = BATCH;
const LOCK = "langso-outbox";
const listeners = new Set();

export const status = {
  state: "idle", // idle | sending | offline | paused-auth | paused-forbidden | member-changed | error
  lastSyncAt: null, // the last exchange with the server, pull only or not
  lastSentAt: null, // the last time the server confirmed records this phone sent
  lastError: null,
};

export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed() {
  for (const fn of listeners) fn(status);
}

async function csrfToken(refresh = false) {
  let token = refresh ? null : await getMeta("csrf");
  if (!token) {
    const response = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (!response.ok) throw new HttpError(response.status, await safeJson(response));
    token = (await response.json()).csrf_token;
    await setMeta("csrf", token);
  }
  return token;
}

class HttpError extends Error {
  constructor(statusCode, body) {
    super(body?.error?.message || `HTTP ${statusCode}`);
    this.status = statusCode;
    this.body = body;
  }
}

async function safeJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

async function post(body) {
  let token = await csrfToken();
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await fetch("/api/v1/sync", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify(body),
    });
    if (response.ok) return response.json();
    const payload = await safeJson(response);
    if (response.status === 403 && payload?.error?.code === "csrf" && attempt === 0) {
      token = await csrfToken(true);
      continue;
    }
    throw new HttpError(response.status, payload);
  }
  throw new HttpError(403, null);
}

// The server sends flat records; the phone keeps {id, version, data, ...} like its own edits.
export function fromServer(store, item) {
  if (store === "households") {
    const { id, version, ...data } = item;
    return { id, version, key: fold(data.head_name), data: { ...data, consent: true }, pending: false };
  }
  const { id, version, review_state, review_comment, conflict, follow_up_done, ...data } = item;
  return { id, version, review_state, review_comment, conflict, follow_up_done: Boolean(follow_up_done), data, pending: false };
}

// Store what the server says changed since our cursor; local unsent edits win until sent.
export async function applyChanges(changes) {
  const database = await db();
  const tx = database.transaction(["households", "sessions", "outbox", "meta"], "readwrite");
  const pending = new Set((await tx.objectStore("outbox").getAll()).map((e) => e.id));
  let applied = 0;
  for (const [store, items] of [["households", changes.households], ["sessions", changes.sessions]]) {
    for (const item of items || []) {
      if (pending.has(item.id)) continue;
      applied += 1;
      if (item.deleted) await tx.objectStore(store).delete(item.id);
      else await tx.objectStore(store).put(fromServer(store, item));
    }
  }
  if (changes.villages?.length) {
    const boot = (await tx.objectStore("meta").get("bootstrap")) || {};
    const byId = new Map((boot.villages || []).map((v) => [v.id, v]));
    for (const v of changes.villages) byId.set(v.id, v);
    boot.villages = [...byId.values()];
    await tx.objectStore("meta").put(boot, "bootstrap");
    applied += 1;
  }
  await tx.done;
  if (applied) publish("data");
}

async function sendBatches(memberId, force) {
  let cursor = await getMeta("cursor", 0);
  let pulled = false;
  const tried = new Set(); // each entry is sent at most once per flush
  for (;;) {
    const now = Date.now();
    const due = (await entriesFor(memberId)).filter(
      (e) => e.state === "pending" && !tried.has(e.op_id) && (force || e.next_attempt_at <= now),
    );
    let batch = due.slice(0, BATCH_NOW);
    for (const e of batch) tried.add(e.op_id);
    if (!batch.length && pulled) return;
    await markSending(batch);
    let result;
    try {
      result = await post({ cursor, member: memberId, ops: batch.map(({ op_id, entity, id, base_version, data }) => ({ op_id, entity, id, base_version, data })) });
    } catch (error) {
      if (error instanceof HttpError && (error.status === 401 || error.status === 403)) {
        status.state = error.status === 401 ? "paused-auth" : "paused-forbidden";
        status.lastError = error.message;
        return;
      }
      if (error instanceof HttpError && error.body?.error?.code === "member_changed") {
        // Someone else signed in on this phone: nothing was written; the app loads the data
        // of whoever is signed in now, and these stay for the member who made them.
        status.state = "member-changed";
        return;
      }
      if (error instanceof HttpError && error.status === 413 && batch.length > 1) {
        // Too big together: send them again in halves.
        for (const e of batch) tried.delete(e.op_id);
        BATCH_NOW = Math.max(1, Math.floor(batch.length / 2));
        continue;
      }
      if (error instanceof HttpError && error.status >= 400 && error.status < 500 && error.status !== 429) {
        await markRejected(batch, error.message);
        continue;
      }
      await postpone(batch, error.message); // network, 5xx, 429: later, with backoff
      status.lastError = error.message;
      if (!(error instanceof HttpError)) {
        status.state = "offline";
        return;
      }
      if (due.length <= batch.length) return;
      continue;
    }
    await acknowledge(result.results, new Map(batch.map((e) => [e.op_id, e])));
    if ((result.results || []).some((r) => r.status !== "rejected")) {
      status.lastSentAt = new Date().toISOString();
      await setMeta("lastSentAt", status.lastSentAt);
    }
    await applyChanges(result.changes || {});
    cursor = result.cursor;
    await setMeta("cursor", cursor);
    status.lastSyncAt = new Date().toISOString();
    await setMeta("lastSyncAt", status.lastSyncAt);
    status.lastError = null;
    pulled = !result.more;
    BATCH_NOW = BATCH;
  }
}

// `force` (the "Send now" button) also retries entries that are waiting out a backoff.
export async function flush(memberId, { force = false } = {}) {
  if (!memberId) return;
  if (navigator.onLine === false) {
    // Known to be offline: do not spend attempts (and backoff) on requests that cannot go.
    status.state = "offline";
    changed();
    return;
  }
  const run = async (lock) => {
    if (lock === null) return; // another tab is sending right now
    status.state = "sending";
    changed();
    try {
      await sendBatches(memberId, force);
      if (status.state === "sending") status.state = "idle";
    } catch (error) {
      status.state = "error";
      status.lastError = String(error);
    }
    changed();
  };
  if (!navigator.locks) await run(true);
  else if (!force) await navigator.locks.request(LOCK, { ifAvailable: true }, run);
  else {
    // "Send now" waits for another tab's send to end (a tab closing, say) rather than doing
    // nothing; at most 10 s, for a tab that hangs.
    const signal = AbortSignal.timeout ? AbortSignal.timeout(10000) : undefined; // older browsers wait
    try {
      await navigator.locks.request(LOCK, { signal }, run);
    } catch (error) {
      if (error?.name !== "TimeoutError" && error?.name !== "AbortError") throw error;
    }
  }
}

// The body of a bootstrap, read as it arrives: `onProgress(n)` with the households read so far.
async function readCounting(response, onProgress) {
  if (!onProgress || !response.body) return response.json();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const MARK = '"head_name":';
  let text = "";
  let from = 0; // marks starting before this were counted
  let n = 0;
  let last = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
    for (let at = text.indexOf(MARK, from); at !== -1; at = text.indexOf(MARK, from)) {
      n += 1;
      from = at + MARK.length;
    }
    // A mark cut between two chunks starts in the last MARK.length - 1 characters.
    from = Math.max(from, text.length - MARK.length + 1);
    if (Date.now() - last > 200) {
      last = Date.now();
      onProgress(n);
    }
  }
  onProgress(n);
  return JSON.parse(text);
}

// What a first start needs to be usable: the member, villages, catalogue, guides (no
// households: `households_total` says how many the full bootstrap will bring).
export async function bootstrapCore() {
  const response = await fetch("/api/v1/bootstrap?part=core", { credentials: "same-origin" });
  if (!response.ok) throw new HttpError(response.status, await safeJson(response));
  const data = await response.json();
  const database = await db();
  const tx = database.transaction(["households", "sessions", "meta"], "readwrite");
  const meta = tx.objectStore("meta");
  const previous = await meta.get("memberId");
  if (previous && previous !== data.member.id) {
    await forgetLastMember(tx);
    await meta.delete("bootstrap");
  }
  const boot = (await meta.get("bootstrap")) || {};
  await meta.put({ ...boot, ...bootMeta(data) }, "bootstrap");
  await meta.put(data.csrf_token, "csrf");
  await meta.put(data.member.id, "memberId");
  await tx.done;
  return data;
}

// Another volunteer on this phone: nothing of the last one's stays readable. What they have
// not sent stays in the outbox, under their name, and comes back when they sign in.
async function forgetLastMember(tx) {
  for (const store of ["households", "sessions"]) await tx.objectStore(store).clear();
  await tx.objectStore("meta").delete("cursor");
}

function bootMeta(data) {
  const { member, commune, villages, services, guides, session } = data;
  return { member, commune, villages, services, guides, session, households_total: data.households_total };
}

export async function bootstrap({ onProgress } = {}) {
  const response = await fetch("/api/v1/bootstrap", { credentials: "same-origin" });
  if (!response.ok) throw new HttpError(response.status, await safeJson(response));
  const data = await readCounting(response, onProgress);
  const database = await db();
  const tx = database.transaction(["households", "sessions", "meta", "outbox"], "readwrite");
  const meta = tx.objectStore("meta");
  const memberId = data.member.id;
  const previous = await meta.get("memberId");
  const entries = (await tx.objectStore("outbox").getAll()).sort((a, b) => a.created - b.created);
  // Records with unsent edits of this member keep the phone's copy; a follow-up op alone is
  // applied on top of the server's copy below.
  const mine = entries.filter((e) => e.member_id === memberId);
  const edited = new Set(mine.filter((e) => e.entity !== "follow_up").map((e) => e.id));
  if (previous && previous !== memberId) await forgetLastMember(tx);
  for (const [store, items] of [["households", data.households], ["sessions", data.sessions]]) {
    for (const item of items || []) {
      if (!edited.has(item.id)) await tx.objectStore(store).put(fromServer(store, item));
    }
  }
  // This volunteer's unsent work, as they last saved it (it may have left with a sign-out
  // while someone else used the phone).
  const newest = new Map(mine.filter((e) => e.entity !== "follow_up").map((e) => [e.id, e]));
  for (const entry of newest.values()) {
    const store = STORE_OF[entry.entity];
    const record = await tx.objectStore(store).get(entry.id);
    if (!record?.pending) {
      await tx.objectStore(store).put({ id: entry.id, version: entry.base_version, data: entry.data, pending: true });
    }
  }
  // Then what their unsent follow-up ops did to those sessions, in the order they were made.
  for (const entry of mine.filter((e) => e.entity === "follow_up")) {
    const record = await tx.objectStore("sessions").get(entry.id);
    if (record) await tx.objectStore("sessions").put({ ...withFollowUp(record, entry.data), pending: true });
  }
  await meta.put(bootMeta(data), "bootstrap");
  await meta.put(data.csrf_token, "csrf");
  await meta.put(memberId, "memberId");
  // The cursor only skips what bootstrap already brought: without sessions in it, pull from 0.
  if (data.sessions && !(await meta.get("cursor"))) await meta.put(data.cursor, "cursor");
  await tx.done;
  return data;
}

status.lastSyncAt = null;
Promise.all([getMeta("lastSyncAt"), getMeta("lastSentAt")]).then(([synced, sent]) => {
  status.lastSyncAt = synced;
  status.lastSentAt = sent;
  changed();
});
