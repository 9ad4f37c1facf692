// IndexedDB: the phone's copy of what the volunteer needs, and the outbox of unsent changes.
// Upgrades must migrate stores, never drop them: the outbox may hold unsent work.

import { openDB } from "/static/vendor/idb/idb.js";

const NAME = "langso";
const VERSION = 1;

let dbPromise = null;

export function db() {
  if (!dbPromise) {
    dbPromise = openDB(NAME, VERSION, {
      upgrade(database, oldVersion) {
        if (oldVersion < 1) {
          const households = database.createObjectStore("households", { keyPath: "id" });
          households.createIndex("village_id", "village_id");
          households.createIndex("code", "code");
          const sessions = database.createObjectStore("sessions", { keyPath: "id" });
          sessions.createIndex("household_id", "household_id");
          const outbox = database.createObjectStore("outbox", { keyPath: "op_id" });
          outbox.createIndex("id", "id");
          outbox.createIndex("member_id", "member_id");
          database.createObjectStore("meta");
        }
      },
      blocked() {
        // Another tab holds an older version open: it reloads when it sees versionchange.
      },
    });
  }
  return dbPromise;
}

export async function getMeta(key, fallback = null) {
  const value = await (await db()).get("meta", key);
  return value === undefined ? fallback : value;
}

export async function setMeta(key, value) {
  await (await db()).put("meta", value, key);
}

export async function all(store) {
  return (await db()).getAll(store);
}

export async function get(store, id) {
  return (await db()).get(store, id);
}

// Remove what belongs to the signed-in person, keeping unsent work and its records.
export async function forgetPersonalData() {
  const database = await db();
  const tx = database.transaction(["households", "sessions", "outbox", "meta"], "readwrite");
  const pendingIds = new Set((await tx.objectStore("outbox").getAll()).map((e) => e.id));
  for (const store of ["households", "sessions"]) {
    let cursor = await tx.objectStore(store).openCursor();
    while (cursor) {
      if (!pendingIds.has(cursor.key)) await cursor.delete();
      cursor = await cursor.continue();
    }
  }
  for (const key of ["bootstrap", "cursor", "csrf"]) await tx.objectStore("meta").delete(key);
  await tx.done;
}
