// Alert inbox: open (unacknowledged) events first, newest first, each with
// Acknowledge and Close; then the handled ones with who acknowledged them and
// when. Loaded from GET /api/events (the last 24 h and every open event),
// then kept up to date by the live feed, which brings new events, state
// changes of known ones (upserted by id) and reminders of open critical ones.
// Open critical events (SOS, falls) are red, raise the banner and beep until
// acknowledged.

import { api, fetchAll, ApiError } from './api.js';
import { state, on, mergeEvents, deviceName, geofenceName } from './state.js';
import {
  $, escapeHtml, fmtTime, fmtAge, fmtCoord, fmtNum, alarmLabel, eventCritical, hasFix, toast, formError,
  clearErrorOnInput,
} from './util.js';
import { showEvent, keepStill } from './map.js';

const MAX_ROWS = 500;
let showOnMap = () => {};
let openVoice = () => {};
let unseen = 0;
let bannerEvent = null;
let bannerSnoozed = false; // dismissed: hidden until the next critical event or reminder
let acking = null; // { event, mode: 'ack' | 'close' }

const isOpen = (e) => (e.state || 'new') === 'new';
const openCritical = (e) => isOpen(e) && eventCritical(e);

export function initEvents({ onShowOnMap, onOpenVoice }) {
  showOnMap = onShowOnMap;
  if (onOpenVoice) openVoice = onOpenVoice;
  $('#event-list').addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-event-id]');
    if (!li) return;
    const id = Number(li.dataset.eventId);
    const action = ev.target.closest('button[data-action]')?.dataset.action;
    if (action === 'ack' || action === 'close') openAck(id, action);
    else if (action === 'voice') openVoice(Number(li.dataset.deviceId));
    else if (!ev.target.closest('button')) focusEvent(id);
  });
  $('#event-list').addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter' || ev.target.tagName === 'BUTTON') return;
    const li = ev.target.closest('li[data-event-id]');
    if (li) focusEvent(Number(li.dataset.eventId));
  });
  $('#event-filter').addEventListener('change', render);
  $('#alert-dismiss').addEventListener('click', () => {
    bannerSnoozed = true;
    hideBanner();
  });
  $('#alert-show').addEventListener('click', () => {
    if (bannerEvent) focusEvent(bannerEvent.id);
  });
  $('#alert-ack').addEventListener('click', () => {
    if (bannerEvent) openAck(bannerEvent.id, 'ack');
  });
  clearErrorOnInput($('#ack-form'), $('#ack-error'));
  $('#ack-form').addEventListener('submit', onAckSubmit);
  $('#ack-cancel').addEventListener('click', () => $('#ack-dialog').close());

  on('events', ({ events, updated = [], reminders = [], live }) => {
    if (events.length || updated.length) scheduleRender();
    if (live) {
      const newOnes = events.filter((e) => !reminders.includes(e));
      if (newOnes.length && ($('#pane-events').hidden || document.body.dataset.tab === 'map')) {
        unseen += newOnes.length;
        updateBadge();
      }
      // A new critical event or a reminder: sound, and the banner comes back
      // (on the newest open critical event, with how many more are open).
      if (newOnes.some(openCritical) || reminders.some(openCritical)) {
        bannerSnoozed = false;
        updateBanner();
        beep();
        return;
      }
    }
    updateBanner();
  });
  on('devices', scheduleRender); // device names
  on('geofences', scheduleRender); // geofence names in the details
  setInterval(render, 30000); // relative ages
}

/** Called when the events tab is shown. */
export function markSeen() {
  unseen = 0;
  updateBadge();
}

function updateBadge() {
  const b = $('#event-badge');
  b.hidden = unseen === 0;
  b.textContent = String(unseen);
}

/** Every open event, newest first (also those older than the 24 h loaded). */
async function loadOpen() {
  try {
    const rows = await api.events({ state: 'new', order: 'desc', limit: 1000 });
    return (rows || []).filter(isOpen);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw e;
    return []; // the 24 h below still hold the recent ones
  }
}

/** Initial load: the last 24 h and every open event. */
export async function loadEvents(from = new Date(Date.now() - 24 * 3600e3).toISOString()) {
  const [rows, open] = await Promise.all([
    fetchAll(api.events, { from }, { limit: 5000, maxPages: 20 }),
    loadOpen(),
  ]);
  mergeEvents([...rows, ...open], false);
}

/**
 * After a reconnect: what happened since the newest event held, and the
 * current state of the open ones (some may have been handled meanwhile).
 */
export async function refreshEvents() {
  const last = state.events[state.events.length - 1];
  const dayAgo = Date.now() - 24 * 3600e3;
  let since = last ? Date.parse(last.time) - 60e3 : dayAgo;
  for (const e of state.events) {
    if (isOpen(e)) { since = Math.min(since, Date.parse(e.time)); break; } // ascending: the oldest open one
  }
  const from = new Date(Math.max(since, dayAgo)).toISOString();
  const [rows, open] = await Promise.all([
    fetchAll(api.events, { from }, { limit: 5000, maxPages: 20 }),
    loadOpen(),
  ]);
  // Events we did not have were missed while offline: treat them as live.
  mergeEvents([...rows, ...open], true);
}

// --- list ----------------------------------------------------------------------------

let renderTimer = 0;
function scheduleRender() {
  if (renderTimer) return;
  renderTimer = setTimeout(() => {
    renderTimer = 0;
    render();
  }, 50);
}

/** Short text from an event's attributes: geofence, speed, readings. */
function detail(e) {
  const a = e.attributes || {};
  const num = (v) => typeof v === 'number' && Number.isFinite(v);
  const limit = (digits, unit) => (num(a.limit) ? ` (limit ${fmtNum(a.limit, digits, unit)})` : '');
  switch (e.type) {
    case 'geofenceEnter':
    case 'geofenceExit':
      return a.geofenceName || (a.geofenceId != null ? geofenceName(a.geofenceId) : '');
    case 'overspeed':
      return num(a.speed) ? `${fmtNum(a.speed, 1, 'km/h')}${limit(0, 'km/h')}` : '';
    case 'motionStart':
    case 'motionStop':
      return num(a.speed) ? fmtNum(a.speed, 1, 'km/h') : '';
    case 'lowBattery':
      return num(a.batteryLevel) ? `battery ${a.batteryLevel}%` : '';
    case 'heartRateHigh':
    case 'heartRateLow':
      return num(a.heartRate) ? `${fmtNum(a.heartRate, 0, 'bpm')}${limit(0, 'bpm')}` : '';
    case 'spo2Low':
      return num(a.spo2) ? `SpO₂ ${fmtNum(a.spo2, 0, '%')}${limit(0, '%')}` : '';
    case 'bodyTemperatureHigh':
      return num(a.bodyTemperature) ? `${fmtNum(a.bodyTemperature, 1, '°C')}${limit(1, '°C')}` : '';
    case 'noReport':
      return num(a.minutes) ? `no report for ${fmtNum(a.minutes, a.minutes < 10 ? 1 : 0, 'min')}` : '';
    case 'voiceMessage':
      return num(a.durationMs) ? `${fmtNum(a.durationMs / 1000, 1, 's')} voice clip` : '';
    case 'commandResult':
      return [a.commandType, a.status, a.result].filter((x) => typeof x === 'string' && x).join(' · ');
    default:
      return '';
  }
}

function stateText(e) {
  if (isOpen(e)) return 'new';
  return e.state;
}

function handledText(e) {
  const parts = [];
  if (e.acknowledgedAt || e.acknowledgedBy) {
    parts.push(`Acknowledged${e.acknowledgedBy ? ` by ${e.acknowledgedBy}` : ''}${e.acknowledgedAt ? ` at ${fmtTime(e.acknowledgedAt)}` : ''}`);
  }
  if (e.state === 'closed') parts.push(`Closed${e.closedAt ? ` at ${fmtTime(e.closedAt)}` : ''}`);
  return parts.join(' · ');
}

function row(e) {
  const crit = eventCritical(e);
  const open = isOpen(e);
  const where = hasFix(e) ? fmtCoord(e.latitude, e.longitude) : 'no position';
  const det = detail(e);
  const handled = handledText(e);
  const cls = `event-item${crit ? ' critical' : ''}${open ? ' open' : ''}`;
  return `<li class="${cls}" tabindex="0" data-event-id="${e.id}" data-testid="event-item-${e.id}" data-type="${escapeHtml(e.type)}" data-device-id="${e.deviceId}" data-state="${escapeHtml(stateText(e))}" data-critical="${crit}">
      <span class="ev-icon" aria-hidden="true">${crit ? '⚠' : '•'}</span>
      <div class="ev-main">
        <div class="ev-head"><strong class="ev-type" data-testid="event-type">${escapeHtml(alarmLabel(e.type))}</strong>
          <span class="ev-device" data-testid="event-device">${escapeHtml(deviceName(e.deviceId))}</span>
          <span class="ev-state state-${escapeHtml(stateText(e))}" data-testid="event-state">${escapeHtml(stateText(e))}</span></div>
        <div class="muted small"><span title="${escapeHtml(fmtTime(e.time))}">${escapeHtml(fmtTime(e.time))} · ${escapeHtml(fmtAge(e.time))}</span> · ${escapeHtml(where)}</div>
        ${det ? `<div class="small" data-testid="event-detail">${escapeHtml(det)}</div>` : ''}
        ${handled ? `<div class="small ev-handled" data-testid="event-ack-info">${escapeHtml(handled)}</div>` : ''}
        ${e.note ? `<div class="small ev-note" data-testid="event-note">“${escapeHtml(e.note)}”</div>` : ''}
        ${e.state !== 'closed' || e.type === 'voiceMessage' ? `<div class="ev-actions">
          ${e.type === 'voiceMessage' ? `<button type="button" class="small-btn" data-action="voice" data-testid="event-voice-${e.id}">Listen</button>` : ''}
          ${open ? `<button type="button" class="small-btn${crit ? ' primary' : ''}" data-action="ack" data-testid="event-ack-${e.id}">Acknowledge</button>` : ''}
          ${e.state !== 'closed' ? `<button type="button" class="small-btn" data-action="close" data-testid="event-close-${e.id}">Close</button>` : ''}
        </div>` : ''}
      </div>
    </li>`;
}

export function render() {
  const ul = $('#event-list');
  const only = $('#event-filter').value;
  const keep = (e) => (only === 'critical' ? eventCritical(e) : only === 'open' ? isOpen(e) : true);
  const desc = state.events.filter(keep).reverse(); // newest first
  const open = desc.filter(isOpen);
  const rest = desc.filter((e) => !isOpen(e)).slice(0, Math.max(0, MAX_ROWS - open.length));
  $('#event-empty').hidden = open.length + rest.length > 0;
  const nCrit = open.filter(eventCritical).length;
  $('#event-open-count').textContent = open.length
    ? `${open.length} open${nCrit ? `, ${nCrit} critical` : ''}` : 'nothing open';
  let html = '';
  if (open.length) {
    html += `<li class="ev-group" data-testid="event-group-open">Open · ${open.length}</li>${open.map(row).join('')}`;
  }
  if (rest.length) {
    html += `<li class="ev-group" data-testid="event-group-handled">Handled · ${rest.length}</li>${rest.map(row).join('')}`;
  }
  ul.innerHTML = html;
}

// --- banner -------------------------------------------------------------------------

function showBanner(e) {
  bannerEvent = e;
  const banner = $('#alert-banner');
  const more = state.events.filter((x) => openCritical(x) && x !== e).length;
  keepStill(() => {
    $('#alert-text').textContent = `${alarmLabel(e.type).toUpperCase()} — ${deviceName(e.deviceId)} at ${fmtTime(e.time)}`;
    $('#alert-more').textContent = more ? `+${more} more open` : '';
    banner.dataset.type = e.type;
    banner.dataset.eventId = String(e.id);
    banner.hidden = false;
  });
}

function hideBanner() {
  keepStill(() => { $('#alert-banner').hidden = true; });
  bannerEvent = null;
}

/** Keeps the banner on the newest open critical event, or hides it. */
function updateBanner() {
  const open = state.events.filter(openCritical);
  if (!open.length) {
    hideBanner();
    return;
  }
  if (!bannerSnoozed) showBanner(open[open.length - 1]); // state.events is by time
}

// --- acknowledge / close -------------------------------------------------------------

function openAck(id, mode) {
  const e = state.eventById.get(id);
  if (!e) return;
  acking = { event: e, mode };
  const what = `${alarmLabel(e.type)} — ${deviceName(e.deviceId)}`;
  $('#ack-title').textContent = mode === 'ack' ? 'Acknowledge event' : 'Close event';
  $('#ack-event').textContent = `${what}, ${fmtTime(e.time)}`;
  $('#ack-submit').textContent = mode === 'ack' ? 'Acknowledge' : 'Close event';
  $('#ack-note').value = '';
  formError($('#ack-error'), '');
  const dlg = $('#ack-dialog');
  dlg.dataset.mode = mode;
  dlg.dataset.eventId = String(id);
  dlg.showModal();
  $('#ack-note').focus();
}

async function onAckSubmit(ev) {
  ev.preventDefault();
  if (!acking) return;
  const { event: e, mode } = acking;
  const note = $('#ack-note').value.trim();
  const btn = $('#ack-submit');
  btn.disabled = true;
  try {
    const updated = mode === 'ack' ? await api.ackEvent(e.id, note) : await api.closeEvent(e.id, note);
    if (updated && updated.id === e.id) mergeEvents([updated], false);
    $('#ack-dialog').close();
    acking = null;
    toast(mode === 'ack' ? `${alarmLabel(e.type)} acknowledged` : `${alarmLabel(e.type)} closed`);
  } catch (err) {
    formError($('#ack-error'), err instanceof ApiError && err.status === 409
      ? `${err.message} — someone else handled it; the list shows its current state.`
      : err.message);
  } finally {
    btn.disabled = false;
  }
}

// --- map ----------------------------------------------------------------------------

/** Find the position of an event without coordinates via its positionId. */
async function positionOf(e) {
  if (e.positionId != null) {
    const t = Date.parse(e.time);
    try {
      const rows = await api.positions({
        deviceId: e.deviceId,
        from: new Date(t - 1000).toISOString(),
        to: new Date(t + 1000).toISOString(),
        limit: 1000,
      });
      const p = (rows || []).find((r) => r.id === e.positionId && hasFix(r));
      if (p) return p;
    } catch { /* fall back below */ }
  }
  return state.lastFix.get(e.deviceId) || null;
}

export async function focusEvent(id) {
  const e = state.eventById.get(id);
  if (!e) return;
  showOnMap();
  const p = hasFix(e) ? e : await positionOf(e);
  if (!showEvent(e, p)) toast('This event has no position.', 'error');
}

// --- sound ------------------------------------------------------------------

let audioCtx = null;

/** Browsers allow audio only after a user gesture: call this from one. */
export function unlockAudio() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audioCtx) audioCtx = new Ctx();
    if (audioCtx.state === 'suspended') audioCtx.resume().catch(() => {});
  } catch { /* no audio */ }
}

/** Three short beeps; silently does nothing when audio is blocked. */
export function beep() {
  if (window.trackdUI) window.trackdUI.alarmSounds = (window.trackdUI.alarmSounds || 0) + 1;
  try {
    unlockAudio();
    if (!audioCtx || audioCtx.state !== 'running') return false;
    const t0 = audioCtx.currentTime;
    for (let i = 0; i < 3; i++) {
      const osc = audioCtx.createOscillator();
      const gain = audioCtx.createGain();
      osc.type = 'square';
      osc.frequency.value = 880;
      const start = t0 + i * 0.25;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.2, start + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
      osc.connect(gain).connect(audioCtx.destination);
      osc.start(start);
      osc.stop(start + 0.2);
    }
    return true;
  } catch {
    return false;
  }
}
