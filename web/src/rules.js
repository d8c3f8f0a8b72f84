// Rules: server-side checks that raise events (overspeed, low battery,
// motion, no report, heart rate, SpO₂, body temperature), per device or for
// all devices. List, add, edit, delete.

import { api, ApiError } from './api.js';
import { state, on, geofenceName } from './state.js';
import { devicePicker, devicesText } from './pickers.js';
import {
  $, escapeHtml, alarmLabel, toast, confirmDialog, formError, clearErrorOnInput, fmtDuration,
} from './util.js';

const DURATION = { key: 'minDuration', label: 'For at least', unit: 's', min: 0, max: 86400, placeholder: '0' };

/** Rule types, their attributes (form fields) and the events they raise. */
export const RULE_TYPES = {
  overspeed: {
    label: 'Overspeed',
    events: ['overspeed'],
    fields: [
      { key: 'limit', label: 'Speed limit', unit: 'km/h', required: true, min: 1, max: 2000 },
      DURATION,
      { key: 'geofenceId', label: 'Only inside', kind: 'geofence' },
    ],
  },
  lowBattery: {
    label: 'Low battery',
    events: ['lowBattery'],
    fields: [{ key: 'threshold', label: 'Battery below', unit: '%', min: 1, max: 99, placeholder: '20' }],
  },
  motion: {
    label: 'Motion',
    events: ['motionStart', 'motionStop'],
    fields: [{ key: 'speed', label: 'Moving above', unit: 'km/h', min: 0.5, max: 200, placeholder: '5' }, DURATION],
  },
  noReport: {
    label: 'No report',
    events: ['noReport'],
    fields: [{ key: 'minutes', label: 'No report for', unit: 'min', required: true, min: 0.05, max: 43200 }],
  },
  heartRate: {
    label: 'Heart rate',
    events: ['heartRateHigh', 'heartRateLow'],
    oneOf: ['above', 'below'],
    fields: [
      { key: 'above', label: 'Above', unit: 'bpm', min: 20, max: 300 },
      { key: 'below', label: 'Below', unit: 'bpm', min: 20, max: 300 },
      DURATION,
    ],
  },
  spo2: {
    label: 'SpO₂',
    events: ['spo2Low'],
    fields: [{ key: 'below', label: 'Below', unit: '%', required: true, min: 50, max: 100 }, DURATION],
  },
  bodyTemperature: {
    label: 'Body temperature',
    events: ['bodyTemperatureHigh'],
    fields: [{ key: 'above', label: 'Above', unit: '°C', required: true, min: 30, max: 45 }, DURATION],
  },
  online: {
    label: 'Online / offline',
    events: ['deviceOnline', 'deviceOffline'],
    fields: [],
  },
};

let rules = [];
let editing = null; // rule being edited, or null for a new one
let picker = null;
let loaded = false;

export function ruleTypeLabel(type) {
  return RULE_TYPES[type]?.label || String(type);
}

/** "above 80 km/h for at least 30 s, inside Depot". */
export function ruleSummary(r) {
  const a = r.attributes || {};
  const dur = a.minDuration > 0 ? ` for at least ${fmtDuration(a.minDuration)}` : '';
  const n = (v) => (typeof v === 'number' ? String(v) : '?');
  switch (r.type) {
    case 'overspeed':
      return `above ${n(a.limit)} km/h${dur}${a.geofenceId != null ? `, inside ${geofenceName(a.geofenceId)}` : ''}`;
    case 'lowBattery':
      return `battery below ${n(a.threshold ?? 20)} %`;
    case 'motion':
      return `moving above ${n(a.speed ?? 5)} km/h${dur}`;
    case 'noReport':
      return `no report for ${n(a.minutes)} min`;
    case 'heartRate': {
      const parts = [];
      if (a.above != null) parts.push(`above ${n(a.above)} bpm`);
      if (a.below != null) parts.push(`below ${n(a.below)} bpm`);
      return `${parts.join(' or ')}${dur}`;
    }
    case 'spo2':
      return `SpO₂ below ${n(a.below)} %${dur}`;
    case 'bodyTemperature':
      return `above ${n(a.above)} °C${dur}`;
    case 'online':
      return 'when the device connects or goes silent';
    default:
      return Object.entries(a).map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
  }
}

export function initRules() {
  const sel = $('#rule-form-type');
  sel.innerHTML = Object.entries(RULE_TYPES)
    .map(([k, t]) => `<option value="${escapeHtml(k)}">${escapeHtml(t.label)}</option>`).join('');
  sel.addEventListener('change', () => renderFields(sel.value, {}));
  $('#rule-add').addEventListener('click', () => openDialog(null));
  $('#rule-form-cancel').addEventListener('click', () => $('#rule-dialog').close());
  clearErrorOnInput($('#rule-form'), $('#rule-form-error'));
  $('#rule-form').addEventListener('submit', onSave);
  $('#rule-list').addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action]');
    const li = ev.target.closest('li[data-rule-id]');
    if (!btn || !li) return;
    const r = rules.find((x) => x.id === Number(li.dataset.ruleId));
    if (!r) return;
    if (btn.dataset.action === 'edit') openDialog(r);
    else if (btn.dataset.action === 'delete') onDelete(r);
  });
  const redraw = () => { if (loaded) render(); };
  on('devices', redraw);
  on('device-removed', redraw);
  on('geofences', redraw);
}

/** GET /api/rules; a failure is shown in the list. */
export async function loadRules() {
  try {
    const list = await api.rules();
    rules = Array.isArray(list) ? list : [];
    loaded = true;
    $('#rule-empty').textContent = 'No rules yet.';
    render();
  } catch (e) {
    if (loaded) return toast(`Could not load the rules: ${e.message}`, 'error');
    $('#rule-empty').textContent = `Rules cannot be loaded: ${e.message}`;
    $('#rule-empty').hidden = false;
  }
  return undefined;
}

function render() {
  const order = Object.keys(RULE_TYPES);
  const list = [...rules].sort((a, b) => {
    const ia = order.indexOf(a.type);
    const ib = order.indexOf(b.type);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.id - b.id;
  });
  $('#rule-empty').hidden = list.length > 0;
  $('#rule-list').innerHTML = list.map((r) => `<li class="item" data-rule-id="${r.id}" data-testid="rule-item-${r.id}" data-type="${escapeHtml(r.type)}">
      <div class="item-main">
        <div class="item-title" data-testid="rule-type">${escapeHtml(ruleTypeLabel(r.type))}</div>
        <div class="small" data-testid="rule-summary">${escapeHtml(ruleSummary(r))}</div>
        <div class="muted small" data-testid="rule-devices">${escapeHtml(devicesText(r.deviceIds))}</div>
        <div class="muted small" data-testid="rule-events">raises ${escapeHtml((RULE_TYPES[r.type]?.events || [r.type]).map(alarmLabel).join(', '))}</div>
      </div>
      <div class="item-actions">
        <button type="button" class="small-btn" data-action="edit" data-testid="rule-edit-${r.id}">Edit</button>
        <button type="button" class="small-btn danger" data-action="delete" data-testid="rule-delete-${r.id}">Delete</button>
      </div>
    </li>`).join('');
}

// --- dialog ------------------------------------------------------------------------

function renderFields(type, attrs) {
  const t = RULE_TYPES[type];
  const box = $('#rule-fields');
  box.dataset.type = type;
  if (!t || !t.fields.length) {
    box.innerHTML = t ? '<p class="muted small">No settings.</p>' : '';
    return;
  }
  box.innerHTML = t.fields.map((f) => {
    const id = `rule-attr-${f.key}`;
    const v = attrs[f.key];
    if (f.kind === 'geofence') {
      const opts = [...state.geofences.values()].sort((a, b) => a.name.localeCompare(b.name))
        .map((g) => `<option value="${g.id}"${v === g.id ? ' selected' : ''}>${escapeHtml(g.name)}</option>`).join('');
      return `<label><span>${escapeHtml(f.label)} <span class="muted small">(optional)</span></span>
        <select id="${id}" data-key="${f.key}" data-testid="${id}"><option value="">anywhere</option>${opts}</select></label>`;
    }
    return `<label><span>${escapeHtml(f.label)}${f.required ? '' : ' <span class="muted small">(optional)</span>'}</span>
      <span class="input-unit"><input id="${id}" data-key="${f.key}" data-testid="${id}" type="number" step="any"
        ${f.min != null ? `min="${f.min}"` : ''} ${f.max != null ? `max="${f.max}"` : ''}
        ${f.placeholder ? `placeholder="${escapeHtml(f.placeholder)}"` : ''} ${f.required ? 'required' : ''}
        value="${typeof v === 'number' ? v : ''}"><span class="unit">${escapeHtml(f.unit)}</span></span></label>`;
  }).join('') + (t.oneOf ? `<p class="muted small">Give at least one of: ${t.oneOf.map((k) => escapeHtml(t.fields.find((f) => f.key === k).label.toLowerCase())).join(', ')}.</p>` : '');
}

function openDialog(r) {
  editing = r;
  const type = r ? r.type : 'overspeed';
  $('#rule-form-title').textContent = r ? 'Edit rule' : 'Add rule';
  const sel = $('#rule-form-type');
  if (r && !RULE_TYPES[type]) {
    sel.insertAdjacentHTML('beforeend', `<option value="${escapeHtml(type)}">${escapeHtml(type)}</option>`);
  }
  sel.value = type;
  renderFields(type, r?.attributes || {});
  picker = devicePicker($('#rule-devices'), { testid: 'rule-devices', selected: r ? r.deviceIds ?? null : null });
  formError($('#rule-form-error'), '');
  $('#rule-dialog').showModal();
  sel.focus();
}

/** The attributes from the form; throws an Error with the message to show. */
function readAttributes(type) {
  const t = RULE_TYPES[type];
  // Attributes the form does not know are kept as they were.
  const out = {};
  if (editing && editing.type === type) {
    const known = new Set((t?.fields || []).map((f) => f.key));
    for (const [k, v] of Object.entries(editing.attributes || {})) if (!known.has(k)) out[k] = v;
  }
  for (const f of t?.fields || []) {
    const el = $(`#rule-attr-${f.key}`);
    const raw = el.value.trim();
    if (raw === '') {
      if (f.required) throw new Error(`${f.label} is required.`);
      continue;
    }
    const v = Number(raw);
    if (!Number.isFinite(v)) throw new Error(`${f.label}: not a number.`);
    if (f.kind !== 'geofence') {
      if (f.min != null && v < f.min) throw new Error(`${f.label} must be at least ${f.min} ${f.unit}.`);
      if (f.max != null && v > f.max) throw new Error(`${f.label} must be at most ${f.max} ${f.unit}.`);
    }
    out[f.key] = v;
  }
  if (t?.oneOf && !t.oneOf.some((k) => out[k] != null)) {
    throw new Error(`Give at least one of: ${t.oneOf.map((k) => t.fields.find((f) => f.key === k).label.toLowerCase()).join(', ')}.`);
  }
  return out;
}

async function onSave(ev) {
  ev.preventDefault();
  const err = $('#rule-form-error');
  const type = $('#rule-form-type').value;
  let attributes;
  try {
    attributes = readAttributes(type);
  } catch (e) {
    formError(err, e.message);
    return;
  }
  const deviceIds = picker.value();
  if (Array.isArray(deviceIds) && deviceIds.length === 0) {
    formError(err, 'Choose at least one device, or all devices.');
    return;
  }
  const body = { type, attributes };
  // Omitted on a new rule, null on a changed one: all devices.
  if (deviceIds || editing) body.deviceIds = deviceIds;
  const btn = $('#rule-form-save');
  btn.disabled = true;
  try {
    if (editing) await api.updateRule(editing.id, body);
    else await api.addRule(body);
    $('#rule-dialog').close();
    toast(editing ? 'Rule saved' : `${ruleTypeLabel(type)} rule added`);
    await loadRules();
  } catch (e) {
    formError(err, e.message || 'The rule could not be saved.');
  } finally {
    btn.disabled = false;
  }
}

async function onDelete(r) {
  if (!(await confirmDialog(`Delete the ${ruleTypeLabel(r.type).toLowerCase()} rule (${ruleSummary(r)})?`))) return;
  try {
    await api.deleteRule(r.id);
    toast('Rule deleted');
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) {
      toast(`Delete failed: ${e.message}`, 'error');
      return;
    }
  }
  try { await loadRules(); } catch { /* the list stays as it was */ }
}
