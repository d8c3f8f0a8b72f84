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
  lowPower: 'Low power',
};

export function alarmLabel(type) {
  return ALARM_LABELS[type] || String(type || 'event');
}

/** SOS and falls need an operator now: shown in red, with a banner and a sound. */
export function isCritical(type) {
  return type === 'sos' || type === 'fall';
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
