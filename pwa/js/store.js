// The app's state in one place, and who wants to know when it changes. The outbox and the sync
// publish here after their IndexedDB transactions complete; app.js redraws the screen shown.
// This module imports nothing, so screens, outbox and sync can all use it without a cycle.

export const store = {
  member: null,
  boot: { villages: [], services: [], guides: [], commune: null },
  counts: { waiting: 0, rejected: 0, total: 0 },
};

const listeners = new Set();

// fn(topic) with topic "outbox" (a record saved or answered for) or "data" (the server's changes).
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function publish(topic) {
  for (const fn of listeners) {
    try {
      fn(topic);
    } catch (error) {
      console.error(error);
    }
  }
}

// The sender is app.js's sync(); screens ask for it through here instead of importing app.js.
let sender = async () => {};

export function setSender(fn) {
  sender = fn;
}

export function requestSync(options) {
  return sender(options);
}
