// The outbox: every change is written with its outbox entry in ONE transaction; "saved" is
// shown only after that transaction completes. An entry leaves only when the server answered
// for it (applied, duplicate or conflict). Rejected entries stay, visible, until fixed.

import { db } from "./db.js";
import { uuid7 } from "./ids.js";
import { publish } from "./store.js";

// A "follow_up" op (done, or a new day) changes a session the phone keeps in "sessions".
export const STORE_OF = { session: "sessions", household: "households", follow_up: "sessions" };

function newEntry(entity, id, data, baseVersion, memberId) {
  return {
    op_id: uuid7(),
    entity,
    id,
    base_version: baseVersion,
    data,
    member_id: memberId,
    created: Date.now(),
    attempts: 0,
    next_attempt_at: 0,
    last_error: null,
    state: "pending",
  };
}

// What a follow-up op does to the phone's copy of its session.
export function withFollowUp(session, change) {
  if (change.done) return { ...session, follow_up_done: true };
  return { ...session, data: { ...session.data, follow_up_on: change.follow_up_on } };
}

// Queue `data` as an op of `entity` on record `id`, and store `record` in the same transaction.
async function queue(entity, id, data, version, record, memberId) {
  const database = await db();
  const tx = database.transaction([STORE_OF[entity], "outbox"], "readwrite");
  const outbox = tx.objectStore("outbox");
  const earlier = (await outbox.index("id").getAll(id)).filter((e) => e.member_id === memberId);
  const unsent = earlier.find((e) => e.entity === entity && e.state === "pending" && e.attempts === 0);
  if (unsent) {
    // Never sent: the newest data simply replaces it (same op id is safe, nobody saw it).
    unsent.data = data;
    await outbox.put(unsent);
  } else {
    for (const e of earlier.filter((x) => x.entity === entity && x.state === "rejected")) await outbox.delete(e.op_id);
    // Once an op may have reached the server its payload is frozen; an edit is a new op
    // that builds on the version the earlier ones will make (a follow-up op makes one too).
    const inFlight = earlier.filter((e) => e.state === "pending");
    const base = inFlight.length ? Math.max(...inFlight.map((e) => e.base_version)) + 1 : version || 0;
    await outbox.put(newEntry(entity, id, data, base, memberId));
  }
  await tx.objectStore(STORE_OF[entity]).put({ ...record, pending: true });
  await tx.done;
  publish("outbox");
}

// Save a record and queue it. `record` = {id, version, data, ...local fields}.
export async function saveRecord(entity, record, memberId) {
  await queue(entity, record.id, record.data, record.version, record, memberId);
}

// Close a follow-up ({done: true}) or move it ({follow_up_on: "YYYY-MM-DD"}).
export async function saveFollowUp(session, change, memberId) {
  await queue("follow_up", session.id, change, session.version, withFollowUp(session, change), memberId);
}

export async function entriesFor(memberId) {
  const entries = await (await db()).getAllFromIndex("outbox", "member_id", memberId);
  return entries.sort((a, b) => a.created - b.created);
}

export async function counts(memberId) {
  const entries = await entriesFor(memberId);
  return {
    waiting: entries.filter((e) => e.state === "pending").length,
    rejected: entries.filter((e) => e.state === "rejected").length,
    total: entries.length,
  };
}

// The server answered for these entries.
export async function acknowledge(results, entriesById) {
  const database = await db();
  const tx = database.transaction(["outbox", "sessions", "households"], "readwrite");
  for (const r of results) {
    const entry = entriesById.get(r.op_id);
    if (!entry) continue;
    const store = tx.objectStore(STORE_OF[entry.entity]);
    if (r.status === "rejected") {
      entry.state = "rejected";
      entry.last_error = { reason: r.reason, message: r.message, fields: r.fields || {} };
      await tx.objectStore("outbox").put(entry);
      continue;
    }
    await tx.objectStore("outbox").delete(entry.op_id);
    const record = await store.get(entry.id);
    if (record) {
      const others = (await tx.objectStore("outbox").index("id").getAll(entry.id)).length;
      record.version = Math.max(record.version || 0, r.version || 0);
      record.pending = others > 0;
      if (r.status === "conflict") record.conflict = true;
      await store.put(record);
    }
  }
  await tx.done;
  if (results.length) publish("outbox");
}

// About to send: from now on the payload is frozen (the server may apply it even if the
// answer never comes back), so later edits become new ops.
export async function markSending(entries) {
  const database = await db();
  const tx = database.transaction("outbox", "readwrite");
  for (const entry of entries) {
    const current = await tx.store.get(entry.op_id);
    if (!current) continue;
    current.attempts += 1;
    entry.attempts = current.attempts;
    entry.data = current.data;
    await tx.store.put(current);
  }
  await tx.done;
}

// Network trouble for these entries: try them again later, with exponential backoff + jitter.
export async function postpone(entries, error) {
  const database = await db();
  const tx = database.transaction("outbox", "readwrite");
  for (const entry of entries) {
    const current = await tx.store.get(entry.op_id);
    if (!current) continue;
    const delay = Math.min(5000 * 2 ** (current.attempts - 1), 30 * 60 * 1000);
    current.next_attempt_at = Date.now() + delay * (0.5 + Math.random());
    current.last_error = { reason: "network", message: String(error) };
    await tx.store.put(current);
  }
  await tx.done;
}

export async function markRejected(entries, message, reason = "rejected") {
  await acknowledge(
    entries.map((e) => ({ op_id: e.op_id, status: "rejected", reason, message })),
    new Map(entries.map((e) => [e.op_id, e])),
  );
}
