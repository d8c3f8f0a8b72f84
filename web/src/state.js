// Client-side state shared by the views, with a tiny publish/subscribe bus.
//
// Events emitted:
//   devices            the device set or a device changed (payload: array of changed devices)
//   device-removed     a device was deleted (payload: id)
//   positions          new position records (payload: array, already merged)
//   events             new alarm events (payload: {events, live})
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

/** Add events; `live` marks those pushed by the server as they happen. */
export function mergeEvents(list, live) {
  const fresh = [];
  for (const e of list || []) {
    if (!e || e.id == null || state.eventIds.has(e.id)) continue;
    state.eventIds.add(e.id);
    fresh.push(e);
  }
  if (!fresh.length) return;
  state.events.push(...fresh);
  state.events.sort((a, b) => ms(a.time) - ms(b.time) || a.id - b.id);
  emit('events', { events: fresh, live });
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
  state.selectedId = null;
}
