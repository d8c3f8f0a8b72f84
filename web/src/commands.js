// Two-way device commands. The command types a device takes come from its
// protocol (GET /api/devices/{id}/commands/types, cached per device and
// protocol): the command dialog offers those by label and builds its form
// from their parameters; quick actions (Locate now, Listen in, SOS numbers)
// appear in the device panel and the commands pane where the device supports
// them. The commands pane shows one device's command history (GET
// /api/commands?deviceId=, newest first), kept current by the live feed's
// `commands` messages, and its voice messages (voice.js). A voice parameter
// takes an AMR file, uploaded (POST /api/voice) before the command is sent.
//
// Values are checked by the server: the form marks what the type
// description says (required, range, phone pattern) and reports what the
// server refuses, so both always agree.

import { api, ApiError } from './api.js';
import { state, on } from './state.js';
import { fillDeviceSelect } from './history.js';
import { initVoice, showVoice, loadVoice } from './voice.js';
import {
  $, escapeHtml, fmtTime, ms, toast, formError, clearErrorOnInput,
} from './util.js';

/** The operator's frequent commands, offered as buttons where the device takes them. */
const QUICK = [
  { type: 'positionSingle', label: 'Locate now' },
  { type: 'voiceMonitoring', label: 'Listen in' },
  { type: 'sosNumber', label: 'SOS numbers' },
];

/** Labels for the history when the device's types are not at hand. */
const FALLBACK_LABELS = {
  positionSingle: 'Locate now', positionPeriodic: 'Report interval', voiceMonitoring: 'Listen in',
  sosNumber: 'SOS numbers', voiceMessage: 'Voice message', custom: 'Custom command',
};

const STATUS_TEXT = {
  queued: 'queued', sent: 'sent', acknowledged: 'acknowledged', failed: 'failed', expired: 'expired',
};
const FINAL = new Set(['acknowledged', 'failed', 'expired']);
const LISTEN_KEY = 'trackd.listenIn'; // the phone the operator listens in on, kept in this browser

const typesCache = new Map(); // deviceId -> { protocol, promise }
let onOpen = () => {};

let shownId = null; // device of the commands pane
let shownTypes = []; // its command types
const history = new Map(); // command id -> command, of shownId
let historyState = 'idle'; // idle, loading, loaded, error
let historyError = '';
let loadSeq = 0;

const mine = new Map(); // id -> label of commands sent from this page, until their outcome is told
const uploads = new WeakMap(); // File -> voice id, so a retry does not upload again

let dialogDevice = null;
let dialogTypes = [];

// --- command types -----------------------------------------------------------------

/** The command types of a device; asked again when its protocol changes. */
export function commandTypes(id) {
  const protocol = state.devices.get(id)?.protocol || '';
  const c = typesCache.get(id);
  if (c && c.protocol === protocol) return c.promise;
  const promise = api.commandTypes(id).then((list) =>
    (Array.isArray(list) ? list.filter((t) => t && typeof t.type === 'string') : []));
  typesCache.set(id, { protocol, promise });
  promise.catch(() => { if (typesCache.get(id)?.promise === promise) typesCache.delete(id); });
  return promise;
}

function typeLabel(type, types = shownTypes) {
  const t = types.find((x) => x.type === type);
  return t?.label || FALLBACK_LABELS[type] || String(type);
}

function params(t) {
  return Array.isArray(t?.parameters) ? t.parameters.filter((p) => p && p.name) : [];
}

/** Attributes to send a type without asking, or null when it needs input. */
function directAttributes(t) {
  const out = {};
  for (const p of params(t)) {
    if (p.optional) continue;
    if (p.kind === 'integer' && typeof p.default === 'number') out[p.name] = p.default;
    else if (p.kind === 'boolean') out[p.name] = p.default === true;
    else return null;
  }
  return out;
}

// --- setup ----------------------------------------------------------------------------

/**
 * @param {object} h  open(deviceId, focus): shows the commands pane of a device
 *   (focus 'voice' scrolls to the voice messages)
 */
export function initCommands(h) {
  onOpen = h.open;
  initVoice();
  $('#command-form-type').addEventListener('change', () => {
    const t = dialogTypes.find((x) => x.type === $('#command-form-type').value);
    renderFields(t, prefill(t));
  });
  $('#command-form-cancel').addEventListener('click', () => $('#command-dialog').close());
  clearErrorOnInput($('#command-form'), $('#command-form-error'));
  $('#command-form').addEventListener('submit', onSend);

  const actions = (ev) => {
    const b = ev.target.closest('button[data-cmd]');
    const id = Number(ev.currentTarget.dataset.deviceId);
    if (!b || !Number.isFinite(id)) return;
    const type = b.dataset.cmd;
    if (type === 'pane') onOpen(id);
    else if (type === 'dialog') openDialog(id);
    else quick(id, type, b);
  };
  $('#dp-actions').addEventListener('click', actions);
  $('#commands-quick').addEventListener('click', actions);
  $('#commands-device').addEventListener('change', () => show(Number($('#commands-device').value)));

  on('commands', onLive);
  on('select', () => panelActions());
  on('devices', (list) => {
    panelActions();
    fillDeviceSelect($('#commands-device'), shownId);
    const d = list.find((x) => x.id === shownId);
    if (d) paneHead(d);
    // The protocol became known (first connection): the types may have changed.
    const cached = d && typesCache.get(d.id);
    if (cached && cached.protocol !== (d.protocol || '') && !$('#pane-commands').hidden) show(d.id);
  });
  on('device-removed', (id) => {
    typesCache.delete(id);
    fillDeviceSelect($('#commands-device'), shownId);
    if (id === shownId) show(state.devices.size ? Number($('#commands-device').value) : null);
    if (id === dialogDevice) $('#command-dialog').close();
  });
}

// --- device panel: quick actions --------------------------------------------------------

function quickButtons(types, { pane }) {
  const have = new Set((types || []).map((t) => t.type));
  return QUICK.filter((q) => have.has(q.type)).map((q) =>
    `<button type="button" class="small-btn" data-cmd="${q.type}" data-testid="${pane ? 'commands' : 'dp'}-quick-${q.type}">${escapeHtml(q.label)}</button>`).join('');
}

/** Quick actions of the selected device in the device panel. */
async function panelActions() {
  const box = $('#dp-actions');
  const id = state.selectedId;
  if (id == null || !state.devices.has(id)) {
    box.dataset.key = '';
    return;
  }
  const key = `${id}:${state.devices.get(id).protocol || ''}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.dataset.deviceId = String(id);
  const more = '<button type="button" class="small-btn" data-cmd="pane" data-testid="dp-commands">Commands…</button>';
  box.innerHTML = more;
  try {
    const types = await commandTypes(id);
    if (box.dataset.key === key) box.innerHTML = quickButtons(types, { pane: false }) + more;
  } catch { /* the pane says why */ }
}

/** A quick action: sent at once when it needs no input, else the dialog opens on it. */
async function quick(id, type, button) {
  let types;
  try {
    types = await commandTypes(id);
  } catch (e) {
    toast(`Commands cannot be loaded: ${e.message}`, 'error');
    return;
  }
  const t = types.find((x) => x.type === type);
  if (!t) {
    toast('This device does not take that command.', 'error');
    return;
  }
  const attrs = type === 'positionSingle' ? directAttributes(t) : null;
  if (!attrs) {
    openDialog(id, type);
    return;
  }
  button.disabled = true; // one click, one command
  try {
    const c = await api.sendCommand({ deviceId: id, type, attributes: attrs });
    sent(c, t.label || typeLabel(type, types), id);
  } catch (e) {
    toast(`“${t.label || type}” not sent: ${errorText(e)}`, 'error');
  } finally {
    button.disabled = false;
  }
}

// --- the commands pane ----------------------------------------------------------------

/** Shows the commands pane for a device (null: the one shown before, or the selected one). */
export function prepareCommands(id, { focus } = {}) {
  const sel = $('#commands-device');
  fillDeviceSelect(sel, id ?? shownId ?? state.selectedId);
  show(sel.value ? Number(sel.value) : null);
  if (focus === 'voice') $('#voice-section').scrollIntoView({ block: 'start' });
}

/** After a reconnect: what changed while the socket was down. */
export function refreshCommands() {
  typesCache.clear();
  $('#dp-actions').dataset.key = '';
  panelActions();
  if (shownId != null && !$('#pane-commands').hidden) show(shownId);
}

function paneHead(d) {
  $('#commands-title').textContent = d ? d.name || d.uniqueId : '';
  const st = $('#commands-status');
  st.textContent = d ? d.status || 'unknown' : '';
  st.className = `status-pill ${d?.status || 'unknown'}`;
  st.hidden = !d;
}

async function show(id) {
  const changed = id !== shownId;
  shownId = id;
  const d = id != null ? state.devices.get(id) : null;
  paneHead(d);
  const quickBox = $('#commands-quick');
  quickBox.dataset.deviceId = id != null ? String(id) : '';
  if (changed) {
    history.clear();
    shownTypes = [];
    historyState = 'idle';
    quickBox.innerHTML = '';
    renderHistory();
  }
  if (id == null) {
    note('No devices yet.');
    showVoice(null);
    return;
  }
  loadHistory(id);
  let types = [];
  try {
    types = await commandTypes(id);
  } catch (e) {
    if (id !== shownId) return;
    quickBox.innerHTML = '';
    note(`Command types cannot be loaded: ${e.message}`);
    showVoice(id);
    return;
  }
  if (id !== shownId) return;
  shownTypes = types;
  const protocol = state.devices.get(id)?.protocol;
  quickBox.innerHTML = types.length
    ? `${quickButtons(types, { pane: true })}<button type="button" class="small-btn primary" data-cmd="dialog" data-testid="command-new">Send command…</button>`
    : '';
  if (!types.length) {
    note(protocol
      ? `The ${protocol} protocol takes no commands from trackd.`
      : 'Commands can be sent once the device has connected: its protocol is not known yet.');
  } else {
    note(d?.status === 'online' ? '' : 'The device is not online: commands are queued and go out when it connects.');
  }
  const voiceType = types.find((t) => t.type === 'voiceMessage');
  showVoice(id, { send: voiceType ? () => openDialog(id, 'voiceMessage') : null });
  renderHistory(); // labels from the types
}

function note(text) {
  const el = $('#commands-note');
  el.textContent = text;
  el.hidden = !text;
}

async function loadHistory(id) {
  const n = ++loadSeq;
  if (historyState !== 'loaded') {
    historyState = 'loading';
    renderHistory();
  }
  try {
    const rows = await api.commands({ deviceId: id });
    if (n !== loadSeq || id !== shownId) return;
    for (const c of Array.isArray(rows) ? rows : []) upsert(c);
    historyState = 'loaded';
  } catch (e) {
    if (n !== loadSeq || id !== shownId) return;
    if (historyState !== 'loaded') {
      historyState = 'error';
      historyError = e.message;
    } else {
      toast(`Could not load the commands: ${e.message}`, 'error');
    }
  }
  renderHistory();
}

/**
 * Keeps the newest state of a command. A final status (acknowledged, failed,
 * expired) is never replaced by an earlier one that arrives late; `weak`
 * (the POST answer) does not replace what the live feed told already.
 */
function upsert(c, weak = false) {
  if (!c || c.id == null) return false;
  const old = history.get(c.id);
  if (old && (weak || (FINAL.has(old.status) && !FINAL.has(c.status)))) return false;
  history.set(c.id, old ? { ...old, ...c } : c);
  return true;
}

function attributesText(c) {
  const t = shownTypes.find((x) => x.type === c.type);
  const a = c.attributes && typeof c.attributes === 'object' ? c.attributes : {};
  const parts = Object.entries(a).map(([k, v]) => {
    const p = params(t).find((x) => x.name === k);
    const label = p?.label || k;
    let text;
    if (p?.kind === 'voice' || k === 'voiceId') text = `#${v}`;
    else if (typeof v === 'boolean') text = v ? 'on' : 'off';
    else text = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return `${label}: ${text}`;
  });
  return parts.join(', ') || 'no parameters';
}

/** The time of day alone when `iso` falls on the same day as `ref` (ms), else date and time. */
function when(iso, ref) {
  const t = ms(iso);
  if (!Number.isFinite(t)) return '—';
  if (new Date(t).toDateString() !== new Date(ref).toDateString()) return fmtTime(iso);
  return new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function timesText(c) {
  const created = ms(c.createdAt);
  const parts = [`created ${when(c.createdAt, Date.now())}`];
  if (c.sentAt) parts.push(`sent ${when(c.sentAt, created)}`);
  if (c.ackedAt) parts.push(`${c.status === 'failed' ? 'answered' : 'acknowledged'} ${when(c.ackedAt, created)}`);
  if (!FINAL.has(c.status) && c.expiresAt) parts.push(`expires ${when(c.expiresAt, created)}`);
  return parts.join(' · ');
}

let renderTimer = 0;
function scheduleHistory() {
  if (renderTimer) return;
  renderTimer = setTimeout(() => {
    renderTimer = 0;
    renderHistory();
  }, 30);
}

function renderHistory() {
  const list = [...history.values()]
    .sort((a, b) => (ms(b.createdAt) || 0) - (ms(a.createdAt) || 0) || b.id - a.id);
  const empty = $('#command-empty');
  empty.textContent = historyState === 'loading' ? 'Loading…'
    : historyState === 'error' ? `Commands cannot be loaded: ${historyError}`
      : 'No commands sent to this device yet.';
  empty.hidden = list.length > 0 || shownId == null;
  $('#command-list').innerHTML = list.map((c) => {
    const status = STATUS_TEXT[c.status] ? c.status : 'queued';
    const result = typeof c.result === 'string' ? c.result.trim() : '';
    return `<li class="item command-item status-${status}" data-command-id="${escapeHtml(c.id)}" data-testid="command-item-${escapeHtml(c.id)}" data-type="${escapeHtml(c.type)}" data-status="${escapeHtml(c.status)}">
      <div class="item-main">
        <div class="cmd-head"><strong data-testid="command-type">${escapeHtml(typeLabel(c.type))}</strong>
          <span class="cmd-status status-${status}" data-testid="command-status">${escapeHtml(STATUS_TEXT[c.status] || c.status || 'unknown')}</span></div>
        <div class="small" data-testid="command-attributes">${escapeHtml(attributesText(c))}</div>
        <div class="muted small" data-testid="command-times" title="${escapeHtml(`created ${fmtTime(c.createdAt)}`)}">${escapeHtml(timesText(c))}${c.user ? ` · by <span data-testid="command-user">${escapeHtml(c.user)}</span>` : ''}</div>
        ${result ? `<div class="small cmd-result" data-testid="command-result">${escapeHtml(result)}</div>` : ''}
      </div>
    </li>`;
  }).join('');
}

// --- live feed ------------------------------------------------------------------------

function onLive(list) {
  let changed = false;
  for (const c of list) {
    if (c.deviceId === shownId && upsert(c)) changed = true;
    const label = mine.get(c.id);
    if (label && FINAL.has(c.status)) {
      mine.delete(c.id);
      outcome(c, label);
    }
  }
  if (changed) scheduleHistory();
}

/** Tells the operator how a command sent from this page ended. */
function outcome(c, label) {
  const d = state.devices.get(c.deviceId);
  const name = d ? d.name || d.uniqueId : `device #${c.deviceId}`;
  const result = typeof c.result === 'string' && c.result.trim() ? `: ${c.result.trim()}` : '';
  if (c.status === 'acknowledged') toast(`${name} acknowledged “${label}”${result}`);
  else if (c.status === 'failed') toast(`“${label}” failed on ${name}${result}`, 'error');
  else toast(`“${label}” to ${name} expired before the device took it`, 'error');
}

/** A command was accepted by the server (POST /api/commands answered). */
function sent(c, label, id) {
  if (!c || c.id == null) return;
  if (c.deviceId == null) c.deviceId = id;
  if (c.deviceId === shownId && upsert(c, true)) renderHistory();
  const d = state.devices.get(id);
  const name = d ? d.name || d.uniqueId : `device #${id}`;
  if (FINAL.has(c.status)) {
    outcome(c, label);
    return;
  }
  mine.set(c.id, label);
  toast(d?.status === 'online' || c.status === 'sent'
    ? `“${label}” sent to ${name}`
    : `“${label}” queued: ${name} is not online; it goes out when the device connects`);
}

function errorText(e) {
  if (e instanceof ApiError && e.status === 404) return 'The device is no longer visible to you (deleted or not shared).';
  return e.message || 'The command could not be sent.';
}

// --- the command dialog ---------------------------------------------------------------

/** Values to start the form with: the defaults, and the phone last listened in on. */
function prefill(t) {
  const values = {};
  if (t?.type === 'voiceMonitoring') {
    try { Object.assign(values, JSON.parse(localStorage.getItem(LISTEN_KEY) || '{}')); } catch { /* none */ }
  }
  return values;
}

function rangeHint(p) {
  const has = (v) => typeof v === 'number' && Number.isFinite(v);
  const span = (unit) => {
    if (has(p.min) && has(p.max)) return p.min === p.max ? `${p.min} ${unit}` : `${p.min}–${p.max} ${unit}`;
    if (has(p.max)) return `up to ${p.max} ${unit}`;
    if (has(p.min)) return `at least ${p.min} ${unit}`;
    return '';
  };
  switch (p.kind) {
    case 'integer': {
      const r = span('').trim();
      return [r, has(p.default) ? `default ${p.default}` : ''].filter(Boolean).join(', ');
    }
    case 'phone': return 'digits, “+” in front for international';
    case 'text': return span('characters');
    case 'hex': return `${span('bytes')} as hex`.trim();
    case 'voice': return 'an AMR clip (.amr); it is uploaded, then sent';
    default: return '';
  }
}

function field(p, value) {
  const id = `command-attr-${p.name}`;
  const label = escapeHtml(p.label || p.name);
  const opt = p.optional ? ' <span class="muted small">(optional)</span>' : '';
  const hint = rangeHint(p);
  const hintHtml = hint ? `<span class="hint muted small" id="${id}-hint">${escapeHtml(hint)}</span>` : '';
  const attrs = `id="${id}" name="${escapeHtml(p.name)}" data-name="${escapeHtml(p.name)}" data-kind="${escapeHtml(p.kind)}" data-testid="${id}"${hint ? ` aria-describedby="${id}-hint"` : ''}${p.optional || p.kind === 'boolean' ? '' : ' required'}`;
  const has = (v) => typeof v === 'number' && Number.isFinite(v);
  const v = value ?? (p.optional ? undefined : p.default);
  switch (p.kind) {
    case 'boolean':
      return `<label class="check"><input type="checkbox" ${attrs}${(value ?? p.default) === true ? ' checked' : ''}> ${label}</label>`;
    case 'integer':
      return `<label><span>${label}${opt}</span><input type="number" step="1" inputmode="numeric" ${attrs}
        ${has(p.min) ? `min="${p.min}"` : ''} ${has(p.max) ? `max="${p.max}"` : ''}
        ${p.optional && has(p.default) ? `placeholder="${p.default}"` : ''} value="${has(v) ? v : ''}">${hintHtml}</label>`;
    case 'phone':
      return `<label><span>${label}${opt}</span><input type="tel" inputmode="tel" autocomplete="off" pattern="\\+?[0-9]+"
        placeholder="+441234567890" ${attrs} value="${escapeHtml(v ?? '')}">${hintHtml}</label>`;
    case 'hex':
      return `<label><span>${label}${opt}</span><input type="text" autocomplete="off" spellcheck="false" pattern="([0-9A-Fa-f]{2} ?)*"
        ${has(p.max) ? `maxlength="${p.max * 3}"` : ''} ${attrs} value="${escapeHtml(v ?? '')}">${hintHtml}</label>`;
    case 'voice':
      return `<label><span>${label}${opt}</span><input type="file" accept=".amr,audio/amr,audio/AMR" ${attrs}>${hintHtml}</label>`;
    case 'text':
    default: {
      const len = `${has(p.min) && p.min > 0 ? ` minlength="${p.min}"` : ''}${has(p.max) ? ` maxlength="${p.max}"` : ''}`;
      return has(p.max) && p.max > 120
        ? `<label><span>${label}${opt}</span><textarea rows="3"${len} ${attrs}>${escapeHtml(v ?? '')}</textarea>${hintHtml}</label>`
        : `<label><span>${label}${opt}</span><input type="text" autocomplete="off"${len} ${attrs} value="${escapeHtml(v ?? '')}">${hintHtml}</label>`;
    }
  }
}

function renderFields(t, values = {}) {
  const box = $('#command-fields');
  box.dataset.type = t?.type || '';
  const ps = params(t);
  box.innerHTML = ps.length
    ? ps.map((p) => field(p, values[p.name])).join('')
    : '<p class="muted small">No settings: the command is sent as it is.</p>';
}

/** Opens the command dialog for device `id`, on `type` when given. */
export async function openDialog(id, type = null) {
  let types;
  try {
    types = await commandTypes(id);
  } catch (e) {
    toast(`Commands cannot be loaded: ${e.message}`, 'error');
    return;
  }
  const d = state.devices.get(id);
  if (!d) return;
  if (!types.length) {
    toast(d.protocol ? `The ${d.protocol} protocol takes no commands.` : 'The device has not connected yet: its commands are not known.', 'error');
    return;
  }
  dialogDevice = id;
  dialogTypes = types;
  const sel = $('#command-form-type');
  sel.innerHTML = types.map((t) => `<option value="${escapeHtml(t.type)}">${escapeHtml(t.label || t.type)}</option>`).join('');
  sel.value = type && types.some((t) => t.type === type) ? type : types[0].type;
  const t = types.find((x) => x.type === sel.value);
  $('#command-form-device').textContent = `${d.name || d.uniqueId} (${d.uniqueId})` +
    (d.status === 'online' ? '' : ' · not online: the command is queued until it connects');
  renderFields(t, prefill(t));
  formError($('#command-form-error'), '');
  const dlg = $('#command-dialog');
  dlg.dataset.deviceId = String(id);
  if (!dlg.open) dlg.showModal();
  const first = $('#command-fields input:not([type="checkbox"]), #command-fields textarea');
  (type && first ? first : sel).focus();
}

/**
 * The attributes in the form, and the clips to upload first ([name, File]).
 * Throws an Error with the message to show for what the server cannot judge:
 * a required value left out, or a number that is not one.
 */
function readForm(t) {
  const attributes = {};
  const files = [];
  for (const p of params(t)) {
    const el = document.getElementById(`command-attr-${p.name}`);
    if (!el) continue;
    const label = p.label || p.name;
    if (p.kind === 'boolean') {
      attributes[p.name] = el.checked;
      continue;
    }
    if (p.kind === 'voice') {
      const file = el.files && el.files[0];
      if (file) files.push([p.name, file]);
      else if (!p.optional) throw new Error(`${label}: choose an AMR clip to send.`);
      continue;
    }
    if (p.kind === 'integer' && el.validity.badInput) throw new Error(`${label}: a whole number is needed.`);
    const raw = el.value.trim();
    if (raw === '') {
      if (!p.optional) throw new Error(`${label} is required.`);
      continue;
    }
    if (p.kind === 'integer') {
      const v = Number(raw);
      if (!Number.isInteger(v)) throw new Error(`${label}: a whole number is needed.`);
      attributes[p.name] = v;
    } else if (p.kind === 'hex') {
      attributes[p.name] = raw.replace(/\s+/g, '');
    } else if (p.kind === 'phone') {
      attributes[p.name] = raw.replace(/[\s()-]/g, '');
    } else {
      attributes[p.name] = el.value; // text as typed
    }
  }
  return { attributes, files };
}

async function onSend(ev) {
  ev.preventDefault();
  const err = $('#command-form-error');
  const id = dialogDevice;
  const type = $('#command-form-type').value;
  const t = dialogTypes.find((x) => x.type === type);
  if (id == null || !t) return;
  let form;
  try {
    form = readForm(t);
  } catch (e) {
    formError(err, e.message);
    return;
  }
  const { attributes, files } = form;
  const btn = $('#command-form-send');
  btn.disabled = true;
  try {
    for (const [name, file] of files) {
      let vid = uploads.get(file);
      if (vid == null) {
        btn.textContent = 'Uploading…';
        let v;
        try {
          v = await api.uploadVoice(id, file);
        } catch (e) {
          throw new Error(`The clip was not accepted: ${e.message}`);
        }
        if (!v || v.id == null) throw new Error('The clip was not accepted: the server gave no voice id.');
        vid = v.id;
        uploads.set(file, vid);
        if (id === shownId) loadVoice();
      }
      attributes[name] = vid;
    }
    btn.textContent = 'Sending…';
    const c = await api.sendCommand({ deviceId: id, type, attributes });
    if (type === 'voiceMonitoring') {
      try { localStorage.setItem(LISTEN_KEY, JSON.stringify(attributes)); } catch { /* private mode */ }
    }
    $('#command-dialog').close();
    sent(c, t.label || type, id);
  } catch (e) {
    formError(err, errorText(e));
  } finally {
    btn.disabled = false;
    btn.textContent = 'Send';
  }
}
