// Device list (search, add, edit, delete) and the device panel with the
// latest values of the selected device.

import { api, fetchAll, ApiError } from './api.js';
import {
  state, on, select, mergeDevices, removeDevice, rememberPositions,
} from './state.js';
import {
  $, escapeHtml, fmtAge, fmtTime, fmtCoord, fmtNum, alarmLabel, isCritical, hasFix, debounce, toast, confirmDialog,
} from './util.js';

let filter = '';

export function initDevices({ onOpenHistory, onOpenHealth }) {
  const search = $('#device-search');
  search.addEventListener('input', debounce(() => {
    filter = search.value.trim().toLowerCase();
    renderList();
  }, 120));

  $('#device-add').addEventListener('click', () => openDialog(null));
  $('#device-form-cancel').addEventListener('click', () => $('#device-dialog').close());
  $('#device-form').addEventListener('submit', onSave);

  $('#device-list').addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action]');
    const li = ev.target.closest('li[data-device-id]');
    if (!li) return;
    const id = Number(li.dataset.deviceId);
    if (btn?.dataset.action === 'edit') openDialog(state.devices.get(id));
    else if (btn?.dataset.action === 'delete') onDelete(id);
    else select(id);
  });
  $('#device-list').addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter' || ev.target.tagName === 'BUTTON') return;
    const li = ev.target.closest('li[data-device-id]');
    if (li) select(Number(li.dataset.deviceId));
  });

  $('#dp-close').addEventListener('click', () => select(null));
  $('#dp-history').addEventListener('click', () => onOpenHistory(state.selectedId));
  $('#dp-health').addEventListener('click', () => onOpenHealth(state.selectedId));

  on('devices', scheduleList);
  on('device-removed', renderList);
  on('positions', (list) => {
    scheduleList();
    if (state.selectedId != null && list.some((p) => p.deviceId === state.selectedId)) renderPanel();
  });
  on('select', (id) => {
    renderList();
    renderPanel();
    if (id != null) loadRecent(id);
  });

  // "last seen" ages are relative.
  setInterval(() => {
    renderList();
    if (state.selectedId != null) renderPanel();
  }, 10000);
}

let listTimer = 0;
/** Many devices reporting at once: redraw the list at most four times a second. */
function scheduleList() {
  if (listTimer) return;
  listTimer = setTimeout(() => {
    listTimer = 0;
    renderList();
  }, 250);
}

function matches(d) {
  if (!filter) return true;
  return (d.name || '').toLowerCase().includes(filter) ||
    String(d.uniqueId || '').toLowerCase().includes(filter);
}

function battery(d) {
  const k = state.known.get(d.id);
  const p = state.latest.get(d.id) || d.lastPosition;
  const v = p?.attributes?.batteryLevel ?? d.lastPosition?.attributes?.batteryLevel ?? k?.batteryLevel?.value;
  return typeof v === 'number' ? v : null;
}

function batteryIcon(level) {
  const w = Math.max(1, Math.min(100, level)) * 0.12;
  return '<svg viewBox="0 0 16 9" aria-hidden="true"><rect x="0.5" y="0.5" width="13" height="8" rx="1.5" fill="none" stroke="currentColor"/>' +
    `<rect x="14" y="3" width="1.5" height="3" fill="currentColor"/><rect class="level" x="1" y="1" width="${w.toFixed(1)}" height="7" rx="1"/></svg>`;
}

export function renderList() {
  const ul = $('#device-list');
  const all = [...state.devices.values()].sort((a, b) =>
    (a.name || a.uniqueId || '').localeCompare(b.name || b.uniqueId || '') || a.id - b.id);
  const shown = all.filter(matches);
  $('#device-count').textContent = filter
    ? `${shown.length} of ${all.length} devices`
    : `${all.length} device${all.length === 1 ? '' : 's'}`;
  ul.innerHTML = shown.map((d) => {
    const status = d.status || 'unknown';
    const bat = battery(d);
    const seen = d.lastSeen || state.latest.get(d.id)?.serverTime || state.latest.get(d.id)?.time;
    const sel = d.id === state.selectedId ? ' selected' : '';
    return `<li class="device-item${sel}" tabindex="0" data-device-id="${d.id}" data-testid="device-item-${d.id}" data-status="${escapeHtml(status)}">
      <span class="status-dot ${escapeHtml(status)}" title="${escapeHtml(status)}"></span>
      <div class="di-main">
        <div class="di-name" data-testid="device-name">${escapeHtml(d.name || d.uniqueId)}</div>
        <div class="di-sub muted small">
          <span data-testid="device-uniqueid">${escapeHtml(d.uniqueId)}</span>
          · <span data-testid="device-protocol">${escapeHtml(d.protocol || 'no protocol yet')}</span>
        </div>
        <div class="di-sub small">
          <span class="status-text ${escapeHtml(status)}" data-testid="device-status">${escapeHtml(status)}</span>
          · <span data-testid="device-lastseen" title="${escapeHtml(fmtTime(seen))}">${seen ? 'seen ' + escapeHtml(fmtAge(seen)) : 'never seen'}</span>
          ${bat !== null ? `· <span class="battery${bat <= 20 ? ' low' : ''}" data-testid="device-battery">${batteryIcon(bat)}${bat}%</span>` : ''}
        </div>
      </div>
      <div class="di-actions">
        <button type="button" class="small-btn" data-action="edit" data-testid="device-edit-${d.id}" aria-label="Edit">Edit</button>
        <button type="button" class="small-btn danger" data-action="delete" data-testid="device-delete-${d.id}" aria-label="Delete">Delete</button>
      </div>
    </li>`;
  }).join('');
}

// --- add / edit ----------------------------------------------------------

let editing = null;

function openDialog(device) {
  editing = device ? device.id : null;
  $('#device-form-title').textContent = device ? 'Edit device' : 'Add device';
  $('#device-form-name').value = device?.name || '';
  $('#device-form-uniqueid').value = device?.uniqueId || '';
  const err = $('#device-form-error');
  err.hidden = true;
  err.textContent = '';
  $('#device-dialog').showModal();
  $('#device-form-name').focus();
}

async function onSave(ev) {
  ev.preventDefault();
  const name = $('#device-form-name').value.trim();
  const uniqueId = $('#device-form-uniqueid').value.trim();
  const err = $('#device-form-error');
  if (!name || !uniqueId) {
    err.textContent = 'Name and unique ID are required.';
    err.hidden = false;
    return;
  }
  const save = $('#device-form-save');
  save.disabled = true;
  try {
    const d = editing == null
      ? await api.addDevice({ name, uniqueId })
      : await api.updateDevice(editing, { name, uniqueId });
    if (d && d.id != null) mergeDevices([d]);
    $('#device-dialog').close();
    toast(editing == null ? `Device “${name}” added` : `Device “${name}” saved`);
  } catch (e) {
    err.textContent = e instanceof ApiError && e.status === 409
      ? 'A device with this unique ID already exists.'
      : e.message;
    err.hidden = false;
  } finally {
    save.disabled = false;
  }
}

async function onDelete(id) {
  const d = state.devices.get(id);
  if (!d) return;
  if (!(await confirmDialog(`Delete device “${d.name || d.uniqueId}” (${d.uniqueId})?`))) return;
  try {
    await api.deleteDevice(id);
    removeDevice(id);
    toast(`Device “${d.name || d.uniqueId}” deleted`);
  } catch (e) {
    toast(`Delete failed: ${e.message}`, 'error');
  }
}

// --- device panel -------------------------------------------------------

async function loadRecent(id) {
  // Health values arrive in separate records (e.g. IW APHT); look back a day
  // so the panel can show the newest value of each.
  const from = new Date(Date.now() - 24 * 3600e3).toISOString();
  try {
    const rows = await fetchAll(api.positions, { deviceId: id, from }, { limit: 5000, maxPages: 4 });
    rememberPositions(rows);
    if (state.selectedId === id) renderPanel();
  } catch {
    /* the panel still shows what the live feed gave */
  }
}

function row(label, value, testid, title = '') {
  return `<dt>${escapeHtml(label)}</dt><dd data-testid="${testid}"${title ? ` title="${escapeHtml(title)}"` : ''}>${value}</dd>`;
}

function healthValue(id, latest, key, digits, unit) {
  const direct = latest?.attributes?.[key];
  if (typeof direct === 'number') return { text: escapeHtml(fmtNum(direct, digits, unit)), title: fmtTime(latest.time) };
  const k = state.known.get(id)?.[key];
  if (k) return { text: `${escapeHtml(fmtNum(k.value, digits, unit))} <span class="muted small">${escapeHtml(fmtAge(k.time))}</span>`, title: fmtTime(k.time) };
  return { text: '—', title: '' };
}

export function renderPanel() {
  const panel = $('#device-panel');
  const id = state.selectedId;
  const d = id != null ? state.devices.get(id) : null;
  if (!d) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  panel.dataset.deviceId = String(id);
  const latest = state.latest.get(id) || d.lastPosition || null;
  const fix = state.lastFix.get(id) || (hasFix(latest) ? latest : null);
  $('#dp-name').textContent = d.name || d.uniqueId;
  const st = $('#dp-status');
  st.textContent = d.status || 'unknown';
  st.className = `status-pill ${d.status || 'unknown'}`;

  const alarms = Array.isArray(latest?.alarms) ? latest.alarms : [];
  const al = $('#dp-alarms');
  al.hidden = alarms.length === 0;
  al.innerHTML = alarms.map((a) =>
    `<span class="alarm-chip${isCritical(a) ? ' critical' : ''}" data-testid="dp-alarm">${escapeHtml(alarmLabel(a))}</span>`).join('');

  const attrs = latest?.attributes || {};
  const bat = typeof attrs.batteryLevel === 'number' ? attrs.batteryLevel : state.known.get(id)?.batteryLevel?.value;
  const hr = healthValue(id, latest, 'heartRate', 0, 'bpm');
  const spo2 = healthValue(id, latest, 'spo2', 0, '%');
  const sys = healthValue(id, latest, 'systolic', 0, '');
  const dia = healthValue(id, latest, 'diastolic', 0, '');
  const temp = healthValue(id, latest, 'bodyTemperature', 1, '°C');
  const steps = healthValue(id, latest, 'steps', 0, '');
  const bp = sys.text === '—' && dia.text === '—' ? '—' : `${sys.text} / ${dia.text} mmHg`;

  $('#dp-values').innerHTML = [
    row('Updated', latest ? `${escapeHtml(fmtTime(latest.time))} <span class="muted small">(${escapeHtml(fmtAge(latest.time))}, ${escapeHtml(latest.type || 'record')})</span>` : '—', 'dp-time'),
    row('Fix time', fix ? `${escapeHtml(fmtTime(fix.time))} <span class="muted small">(${escapeHtml(fmtAge(fix.time))})</span>` : '—', 'dp-fixtime'),
    row('Position', fix ? escapeHtml(fmtCoord(fix.latitude, fix.longitude)) : '—', 'dp-position'),
    row('Speed', escapeHtml(fmtNum(fix?.speed, 1, 'km/h')), 'dp-speed'),
    row('Course', escapeHtml(fmtNum(fix?.course, 0, '°')), 'dp-course'),
    row('Validity', fix && typeof fix.valid === 'boolean' ? (fix.valid ? 'valid fix' : '<span class="warn">no valid fix</span>') : '—', 'dp-valid'),
    row('Battery', typeof bat === 'number' ? `${bat}%` : '—', 'dp-battery'),
    row('Heart rate', hr.text, 'dp-heartRate', hr.title),
    row('SpO₂', spo2.text, 'dp-spo2', spo2.title),
    row('Blood pressure', bp, 'dp-bp'),
    row('Temperature', temp.text, 'dp-bodyTemperature', temp.title),
    row('Steps', steps.text, 'dp-steps', steps.title),
    row('Protocol', escapeHtml(d.protocol || '—'), 'dp-protocol'),
    row('Unique ID', escapeHtml(d.uniqueId), 'dp-uniqueid'),
  ].join('');
}
