// Client-side state shared by the views, with a tiny publish/subscribe bus.
//
// Events emitted:
//   devices            the device set or a device changed (payload: array of changed devices)
//   device-removed     a device was deleted (payload: id)
//   positions          new position records (payload: array, already merged)
//   events             events added or changed (payload: {events, updated, reminders, live}:
//                      new ones, ones whose state changed, reminders of open critical ones)
//   geofences          the geofence list changed (payload: array)
//   commands           commands created or changed status, from the live feed (payload: array)
//   fixes              fetched records gave devices a newer fix (payload: array of ids)
//   select             the selected device changed (payload: id or null)

import { hasFix, ms } from './util.js';

const HEALTH_KEYS = ['heartRate', 'spo2', 'systolic', 'diastolic', 'bodyTemperature', 'steps', 'batteryLevel'];

export const state = {
  user: null,
  server: null,
  devices: new Map(), // id -> device
  latest: new Map(), // deviceId -> newest record (any type)
  lastFix: new Map(), // deviceId -> newest position record (else any record with latitude/longitude)
  known: new Map(), // deviceId -> { attr: {value, time} } newest value of health attributes
  events: [], // ascending by time
  eventIds: new Set(),
  eventById: new Map(), // id -> event (the same objects as in events)
  geofences: new Map(), // id -> geofence
  selectedId: null,
};

const listeners = new Map();

export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}

export function emit(name, payload) {
  for (const fn of listeners.get(name) || []) {
    try {
      fn(payload);
    } catch (err) {
      console.error(`listener for ${name} failed`, err);
    }
  }
}

function newer(a, b) {
  // true when record a is at least as new as b
  if (!b) return true;
  const ta = ms(a.time);
  const tb = ms(b.time);
  if (ta !== tb) return !(ta < tb);
  return (a.id ?? 0) >= (b.id ?? 0);
}

function remember(p) {
  if (!p || p.deviceId == null) return;
  const id = p.deviceId;
  if (newer(p, state.latest.get(id))) state.latest.set(id, p);
  // The marker shows the newest real position. Status records placed at the
  // last fix (without speed or course) stand in only until one arrives.
  const prev = state.lastFix.get(id);
  if (hasFix(p)) {
    const isPos = p.type === 'position';
    const prevPos = prev && prev.type === 'position';
    if (!prev || (isPos && !prevPos) || (newer(p, prev) && (isPos || !prevPos))) state.lastFix.set(id, p);
  }
  const attrs = p.attributes || {};
  let k = state.known.get(id);
  if (!k) state.known.set(id, (k = {}));
  for (const key of HEALTH_KEYS) {
    const v = attrs[key];
    if (typeof v !== 'number') continue;
    const prev = k[key];
    if (!prev || !(ms(p.time) < ms(prev.time))) k[key] = { value: v, time: p.time };
  }
}

/** Replace the whole device set (after login or a reconnect). */
export function setDevices(list) {
  const ids = new Set(list.map((d) => d.id));
  for (const id of [...state.devices.keys()]) {
    if (!ids.has(id)) removeDevice(id);
  }
  mergeDevices(list);
}

export function mergeDevices(list) {
  const changed = [];
  for (const d of list || []) {
    if (!d || d.id == null) continue;
    if (d.deleted) { // deleted, or no longer shared with this user
      if (state.devices.has(d.id)) removeDevice(d.id);
      continue;
    }
    const old = state.devices.get(d.id) || {};
    const merged = { ...old, ...d };
    state.devices.set(d.id, merged);
    if (d.lastPosition) remember({ ...d.lastPosition, deviceId: d.lastPosition.deviceId ?? d.id });
    changed.push(merged);
  }
  if (changed.length) emit('devices', changed);
}

export function removeDevice(id) {
  state.devices.delete(id);
  state.latest.delete(id);
  state.lastFix.delete(id);
  state.known.delete(id);
  if (state.selectedId === id) select(null);
  emit('device-removed', id);
}

export function mergePositions(list) {
  const fresh = [];
  for (const p of list || []) {
    if (!p || p.deviceId == null) continue;
    remember(p);
    fresh.push(p);
    const d = state.devices.get(p.deviceId);
    if (d && newer(p, d.lastPosition)) d.lastPosition = p;
  }
  if (fresh.length) emit('positions', fresh);
}

/** Remember records fetched for a device (device panel): the marker may move to a better fix. */
export function rememberPositions(list) {
  const ids = new Set();
  for (const p of list || []) {
    if (!p || p.deviceId == null) continue;
    const before = state.lastFix.get(p.deviceId);
    remember(p);
    if (state.lastFix.get(p.deviceId) !== before) ids.add(p.deviceId);
  }
  if (ids.size) emit('fixes', [...ids]);
}

/**
 * Add events or update the ones held (same id: a state change, e.g.
 * acknowledged). `live` marks those pushed by the server as they happen.
 * An event with `reminder: true` is a reminder of an open critical event:
 * it updates the event held and is reported in `reminders`, never added twice.
 */
export function mergeEvents(list, live) {
  const fresh = [];
  const updated = [];
  const reminders = [];
  for (const raw of list || []) {
    if (!raw || raw.id == null) continue;
    const { reminder, ...e } = raw;
    const old = state.eventById.get(e.id);
    if (old) {
      if (eventChanged(old, e)) {
        Object.assign(old, e);
        updated.push(old);
      }
      if (reminder) reminders.push(old);
      continue;
    }
    state.eventIds.add(e.id);
    state.eventById.set(e.id, e);
    fresh.push(e);
    if (reminder) reminders.push(e);
  }
  if (!fresh.length && !updated.length && !reminders.length) return;
  if (fresh.length) {
    state.events.push(...fresh);
    state.events.sort((a, b) => ms(a.time) - ms(b.time) || a.id - b.id);
  }
  emit('events', { events: fresh, updated, reminders, live });
}

function eventChanged(a, b) {
  for (const k of Object.keys(b)) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (x && y && typeof x === 'object' && typeof y === 'object' && JSON.stringify(x) === JSON.stringify(y)) continue;
    return true;
  }
  return false;
}

/** Commands pushed by the live feed; the views keep the lists they show. */
export function mergeCommands(list) {
  const valid = (list || []).filter((c) => c && c.id != null && c.deviceId != null);
  if (valid.length) emit('commands', valid);
}

/** Replace the geofence list (GET /api/geofences). */
export function setGeofences(list) {
  state.geofences = new Map((list || []).filter((g) => g && g.id != null).map((g) => [g.id, g]));
  emit('geofences', [...state.geofences.values()]);
}

export function geofenceName(id) {
  const g = state.geofences.get(id);
  return g ? g.name : `geofence #${id}`;
}

export function select(id) {
  state.selectedId = id;
  emit('select', id);
}

export function deviceName(id) {
  const d = state.devices.get(id);
  return d ? d.name || d.uniqueId : `#${id}`;
}

export function resetState() {
  state.user = null;
  state.devices.clear();
  state.latest.clear();
  state.lastFix.clear();
  state.known.clear();
  state.events = [];
  state.eventIds.clear();
  state.eventById.clear();
  state.geofences.clear();
  state.selectedId = null;
}
