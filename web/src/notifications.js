// Notification channels of the logged-in user: webhook, e-mail and MQTT,
// each for some or all event types and devices. The web channel (this page:
// live feed, banner and sound) is always on and is listed for reference.

import { api, ApiError } from './api.js';
import { on } from './state.js';
import { devicePicker, eventTypePicker, devicesText } from './pickers.js';
import { $, escapeHtml, alarmLabel, toast, confirmDialog, formError, clearErrorOnInput } from './util.js';

const CHANNELS = {
  webhook: { label: 'Webhook', target: 'URL', input: 'url', placeholder: 'https://example.com/hooks/trackd', required: true },
  email: { label: 'E-mail', target: 'Address', input: 'email', placeholder: 'operator@example.com', required: true },
  mqtt: { label: 'MQTT', target: 'Topic', input: 'text', placeholder: 'server default: trackd/{uniqueId}/events/{type}', required: false },
};

let channels = [];
let editing = null;
let typePicker = null;
let devPicker = null;
let loaded = false;

export function initNotifications() {
  $('#notification-form-channel').innerHTML = Object.entries(CHANNELS)
    .map(([k, c]) => `<option value="${k}">${escapeHtml(c.label)}</option>`).join('');
  $('#notification-form-channel').addEventListener('change', targetField);
  $('#notification-add').addEventListener('click', () => openDialog(null));
  $('#notification-form-cancel').addEventListener('click', () => $('#notification-dialog').close());
  clearErrorOnInput($('#notification-form'), $('#notification-form-error'));
  $('#notification-form').addEventListener('submit', onSave);
  $('#notification-list').addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action]');
    const li = ev.target.closest('li[data-notification-id]');
    if (!btn || !li) return;
    const n = channels.find((x) => x.id === Number(li.dataset.notificationId));
    if (!n) return;
    if (btn.dataset.action === 'edit') openDialog(n);
    else if (btn.dataset.action === 'delete') onDelete(n);
  });
  const redraw = () => { if (loaded) render(); };
  on('devices', redraw);
  on('device-removed', redraw);
}

/** GET /api/notifications; a failure is shown in the list. */
export async function loadNotifications() {
  try {
    const list = await api.notifications();
    channels = Array.isArray(list) ? list : [];
    loaded = true;
    render();
  } catch (e) {
    if (loaded) return toast(`Could not load the notifications: ${e.message}`, 'error');
    render();
    $('#notification-list').insertAdjacentHTML('beforeend',
      `<li class="muted" data-testid="notification-error">Notification channels cannot be loaded: ${escapeHtml(e.message)}</li>`);
  }
  return undefined;
}

function typesText(types) {
  if (!Array.isArray(types) || types.length === 0) return 'All events';
  return types.map(alarmLabel).join(', ');
}

function render() {
  const list = [...channels].sort((a, b) => String(a.channel).localeCompare(String(b.channel)) || a.id - b.id);
  $('#notification-list').innerHTML = `<li class="item fixed" data-testid="notification-web">
      <div class="item-main">
        <div class="item-title">This page <span class="muted small">always on</span></div>
        <div class="small">All events live; SOS and falls with a banner and a sound until acknowledged.</div>
      </div>
    </li>` + list.map((n) => {
    const c = CHANNELS[n.channel];
    const target = n.target || (n.channel === 'mqtt' ? 'server default topic' : '—');
    return `<li class="item" data-notification-id="${n.id}" data-testid="notification-item-${n.id}" data-channel="${escapeHtml(n.channel)}">
      <div class="item-main">
        <div class="item-title"><span data-testid="notification-channel">${escapeHtml(c ? c.label : n.channel)}</span>
          <span class="target" data-testid="notification-target">${escapeHtml(target)}</span></div>
        <div class="small" data-testid="notification-types">${escapeHtml(typesText(n.eventTypes))}</div>
        <div class="muted small" data-testid="notification-devices">${escapeHtml(devicesText(n.deviceIds))}</div>
      </div>
      <div class="item-actions">
        <button type="button" class="small-btn" data-action="edit" data-testid="notification-edit-${n.id}">Edit</button>
        <button type="button" class="small-btn danger" data-action="delete" data-testid="notification-delete-${n.id}">Delete</button>
      </div>
    </li>`;
  }).join('');
}

function targetField() {
  const c = CHANNELS[$('#notification-form-channel').value] || CHANNELS.webhook;
  const input = $('#notification-form-target');
  $('#notification-target-label').textContent = c.target;
  input.type = c.input;
  input.placeholder = c.placeholder;
  input.required = c.required;
}

function openDialog(n) {
  editing = n;
  $('#notification-form-title').textContent = n ? 'Edit notification' : 'Add notification';
  $('#notification-form-channel').value = n && CHANNELS[n.channel] ? n.channel : 'webhook';
  targetField();
  $('#notification-form-target').value = n?.target || '';
  typePicker = eventTypePicker($('#notification-types'), { testid: 'notification-types', selected: n ? n.eventTypes ?? null : null });
  devPicker = devicePicker($('#notification-devices'), { testid: 'notification-devices', selected: n ? n.deviceIds ?? null : null });
  formError($('#notification-form-error'), '');
  $('#notification-dialog').showModal();
  $('#notification-form-target').focus();
}

async function onSave(ev) {
  ev.preventDefault();
  const err = $('#notification-form-error');
  const channel = $('#notification-form-channel').value;
  const target = $('#notification-form-target').value.trim();
  const eventTypes = typePicker.value();
  const deviceIds = devPicker.value();
  if (CHANNELS[channel]?.required && !target) return formError(err, `${CHANNELS[channel].target} is required.`);
  if (Array.isArray(eventTypes) && eventTypes.length === 0) return formError(err, 'Choose at least one event type, or all.');
  if (Array.isArray(deviceIds) && deviceIds.length === 0) return formError(err, 'Choose at least one device, or all devices.');
  const body = { channel, target };
  // Omitted on a new channel, null on a changed one: all.
  if (eventTypes || editing) body.eventTypes = eventTypes;
  if (deviceIds || editing) body.deviceIds = deviceIds;
  const btn = $('#notification-form-save');
  btn.disabled = true;
  try {
    if (editing) await api.updateNotification(editing.id, body);
    else await api.addNotification(body);
    $('#notification-dialog').close();
    toast(editing ? 'Notification saved' : `${CHANNELS[channel].label} notification added`);
    await loadNotifications();
  } catch (e) {
    formError(err, e.message || 'The notification could not be saved.');
  } finally {
    btn.disabled = false;
  }
  return undefined;
}

async function onDelete(n) {
  const c = CHANNELS[n.channel];
  if (!(await confirmDialog(`Delete the ${c ? c.label : n.channel} notification${n.target ? ` to ${n.target}` : ''}?`))) return;
  try {
    await api.deleteNotification(n.id);
    toast('Notification deleted');
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) {
      toast(`Delete failed: ${e.message}`, 'error');
      return;
    }
  }
  try { await loadNotifications(); } catch { /* the list stays as it was */ }
}
