// Small helpers shared by the views: DOM, time formatting, labels.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

/** Milliseconds since epoch of an ISO string (NaN when absent). */
export function ms(iso) {
  return iso ? Date.parse(iso) : NaN;
}

/** "just now", "42 s ago", "2 min ago", "3 h ago", "5 d ago". */
export function fmtAge(iso, now = Date.now()) {
  const t = ms(iso);
  if (!Number.isFinite(t)) return 'never';
  const s = Math.round((now - t) / 1000);
  if (s < -60) return 'in the future';
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

export function fmtTime(iso) {
  const t = ms(iso);
  if (!Number.isFinite(t)) return '—';
  return new Date(t).toLocaleString(undefined, {
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

export function fmtCoord(lat, lon) {
  if (typeof lat !== 'number' || typeof lon !== 'number') return '—';
  return `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
}

export function fmtNum(v, digits = 0, unit = '') {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  return `${v.toFixed(digits)}${unit ? ' ' + unit : ''}`;
}

/** Value for an <input type="datetime-local"> from a Date, in local time. */
export function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** ISO 8601 (UTC) from an <input type="datetime-local"> value, or null. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export function hasFix(p) {
  return !!p && typeof p.latitude === 'number' && typeof p.longitude === 'number' &&
    Number.isFinite(p.latitude) && Number.isFinite(p.longitude);
}

const ALARM_LABELS = {
  sos: 'SOS', fall: 'Fall', lowBattery: 'Low battery', geofenceEnter: 'Geofence enter',
  geofenceExit: 'Geofence exit', movement: 'Movement', vibration: 'Vibration',
  overspeed: 'Overspeed', powerCut: 'Power cut', removal: 'Removed', tamper: 'Tamper',
  lowPower: 'Low power', motionStart: 'Motion start', motionStop: 'Motion stop',
  deviceOnline: 'Online', deviceOffline: 'Offline', noReport: 'No report',
  heartRateHigh: 'Heart rate high', heartRateLow: 'Heart rate low', spo2Low: 'SpO₂ low',
  bodyTemperatureHigh: 'Temperature high', commandResult: 'Command result', voiceMessage: 'Voice message',
};

/** Event types a notification channel can carry (GET/POST /api/notifications). */
export const EVENT_TYPES = [
  'sos', 'fall', 'lowBattery', 'geofenceEnter', 'geofenceExit', 'movement', 'vibration', 'overspeed',
  'powerCut', 'removal', 'tamper', 'lowPower', 'motionStart', 'motionStop', 'deviceOnline',
  'deviceOffline', 'noReport', 'heartRateHigh', 'heartRateLow', 'spo2Low', 'bodyTemperatureHigh',
];

export function alarmLabel(type) {
  return ALARM_LABELS[type] || String(type || 'event');
}

/** SOS and falls need an operator now: shown in red, with a banner and a sound. */
export function isCritical(type) {
  return type === 'sos' || type === 'fall';
}

/** Whether an event stays open until acknowledged: the server says so (`critical`). */
export function eventCritical(e) {
  return typeof e?.critical === 'boolean' ? e.critical : isCritical(e?.type);
}

/** "850 m", "1.25 km". */
export function fmtDistance(m) {
  if (typeof m !== 'number' || !Number.isFinite(m)) return '—';
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(m < 10000 ? 2 : 1)} km`;
}

/** "45 s", "5 min", "2 h 30 min". */
export function fmtDuration(seconds) {
  const s = Math.round(Number(seconds) || 0);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** Asks in the confirmation dialog; resolves true when confirmed. */
export function confirmDialog(text, okLabel = 'Delete') {
  const dlg = document.getElementById('confirm-dialog');
  document.getElementById('confirm-text').textContent = text;
  dlg.querySelector('[data-testid="confirm-ok"]').textContent = okLabel;
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.returnValue = '';
    dlg.showModal();
  });
}

/** Shows an error text in a form's error element (empty hides it). */
export function formError(el, message) {
  el.textContent = message || '';
  el.hidden = !message;
}

/** The form's error goes as soon as the user changes something. */
export function clearErrorOnInput(form, errorEl) {
  const clear = () => { if (!errorEl.hidden) formError(errorEl, ''); };
  form.addEventListener('input', clear);
  form.addEventListener('change', clear);
}

export function debounce(fn, wait) {
  let t = 0;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), wait);
  };
}

let toastTimer = 0;
export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}
