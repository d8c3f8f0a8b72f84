// Event feed: last 24 h from GET /api/events, then live events from the
// WebSocket. SOS and falls are shown in red, raise a banner and beep.

import { api, fetchAll } from './api.js';
import { state, on, mergeEvents, deviceName } from './state.js';
import {
  $, escapeHtml, fmtTime, fmtAge, fmtCoord, alarmLabel, isCritical, hasFix, toast,
} from './util.js';
import { showEvent } from './map.js';

let showOnMap = () => {};
let unseen = 0;
let bannerEvent = null;

export function initEvents({ onShowOnMap }) {
  showOnMap = onShowOnMap;
  $('#event-list').addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-event-id]');
    if (li) focusEvent(Number(li.dataset.eventId));
  });
  $('#event-list').addEventListener('keydown', (ev) => {
    const li = ev.target.closest('li[data-event-id]');
    if (li && ev.key === 'Enter') focusEvent(Number(li.dataset.eventId));
  });
  $('#event-filter').addEventListener('change', render);
  $('#alert-dismiss').addEventListener('click', hideBanner);
  $('#alert-show').addEventListener('click', () => {
    if (bannerEvent) focusEvent(bannerEvent.id);
  });

  on('events', ({ events, live }) => {
    render();
    if (!live) return;
    if ($('#pane-events').hidden || document.body.dataset.tab === 'map') {
      unseen += events.length;
      updateBadge();
    }
    const critical = events.filter((e) => isCritical(e.type));
    if (critical.length) {
      showBanner(critical[critical.length - 1]);
      beep();
    }
  });
  on('devices', render); // device names in the feed
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

/** Initial load (and refresh after a reconnect): everything since `from`. */
export async function loadEvents(from = new Date(Date.now() - 24 * 3600e3).toISOString()) {
  const rows = await fetchAll(api.events, { from }, { limit: 5000, maxPages: 20 });
  mergeEvents(rows, false);
}

/** After a reconnect: fetch what happened since the newest event we hold. */
export async function refreshEvents() {
  const last = state.events[state.events.length - 1];
  const dayAgo = Date.now() - 24 * 3600e3;
  const from = last ? new Date(Math.max(Date.parse(last.time) - 60e3, dayAgo)).toISOString()
    : new Date(dayAgo).toISOString();
  const rows = await fetchAll(api.events, { from }, { limit: 5000, maxPages: 20 });
  // Events we did not have were missed while offline: treat them as live.
  mergeEvents(rows, true);
}

export function render() {
  const ul = $('#event-list');
  const only = $('#event-filter').value;
  const list = state.events.filter((e) => only !== 'critical' || isCritical(e.type)).slice(-500).reverse();
  $('#event-empty').hidden = list.length > 0;
  ul.innerHTML = list.map((e) => {
    const crit = isCritical(e.type);
    const where = hasFix(e) ? fmtCoord(e.latitude, e.longitude) : 'no position';
    return `<li class="event-item${crit ? ' critical' : ''}" tabindex="0" data-event-id="${e.id}" data-testid="event-item-${e.id}" data-type="${escapeHtml(e.type)}" data-device-id="${e.deviceId}">
      <span class="ev-icon" aria-hidden="true">${crit ? '⚠' : '•'}</span>
      <div class="ev-main">
        <div><strong class="ev-type" data-testid="event-type">${escapeHtml(alarmLabel(e.type))}</strong>
          <span class="ev-device" data-testid="event-device">${escapeHtml(deviceName(e.deviceId))}</span></div>
        <div class="muted small"><span title="${escapeHtml(fmtTime(e.time))}">${escapeHtml(fmtTime(e.time))} · ${escapeHtml(fmtAge(e.time))}</span> · ${escapeHtml(where)}</div>
      </div>
    </li>`;
  }).join('');
}

function showBanner(e) {
  bannerEvent = e;
  $('#alert-text').textContent = `${alarmLabel(e.type).toUpperCase()} — ${deviceName(e.deviceId)} at ${fmtTime(e.time)}`;
  const banner = $('#alert-banner');
  banner.dataset.type = e.type;
  banner.dataset.eventId = String(e.id);
  banner.hidden = false;
}

function hideBanner() {
  $('#alert-banner').hidden = true;
  bannerEvent = null;
}

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
  const e = state.events.find((x) => x.id === id);
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
