// Geofences: the list (name, area, devices; edit, delete), the editor (name,
// devices, area drawn on the map) and the shapes with their names on the map.

import L from 'leaflet';
import { api, ApiError } from './api.js';
import { state, on, setGeofences } from './state.js';
import { getMap, fitPadding } from './map.js';
import {
  startDraw, cancelDraw, drawing, showEditable, clearEditable, areaLayer, areaBounds, areaText,
} from './draw.js';
import { devicePicker, devicesText } from './pickers.js';
import { $, escapeHtml, toast, confirmDialog, formError, clearErrorOnInput } from './util.js';

let hooks = { showMap() {}, showPane() {} };
let layer = null; // L.LayerGroup of the saved geofences
let editor = null; // { id|null, area|null, devices: picker }
let loaded = false;

export function initGeofences(h) {
  hooks = { ...hooks, ...h };
  const map = getMap();
  map.createPane('geofences').style.zIndex = 380; // under tracks (420) and markers
  layer = L.layerGroup().addTo(map);

  $('#geofence-add').addEventListener('click', () => openEditor(null));
  $('#geofence-visible').addEventListener('change', renderLayer);
  $('#geofence-draw-circle').addEventListener('click', () => draw('circle'));
  $('#geofence-draw-polygon').addEventListener('click', () => draw('polygon'));
  $('#geofence-form-cancel').addEventListener('click', closeEditor);
  clearErrorOnInput($('#geofence-editor'), $('#geofence-form-error'));
  $('#geofence-editor').addEventListener('submit', onSave);

  $('#geofence-list').addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-geofence-id]');
    if (!li) return;
    const g = state.geofences.get(Number(li.dataset.geofenceId));
    if (!g) return;
    const action = ev.target.closest('button[data-action]')?.dataset.action;
    if (action === 'edit') openEditor(g);
    else if (action === 'delete') onDelete(g);
    else showOnMap(g);
  });
  $('#geofence-list').addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter' || ev.target.tagName === 'BUTTON') return;
    const li = ev.target.closest('li[data-geofence-id]');
    const g = li && state.geofences.get(Number(li.dataset.geofenceId));
    if (g) showOnMap(g);
  });

  on('geofences', () => {
    renderList();
    renderLayer();
  });
  on('devices', () => { if (loaded) renderList(); });
  on('device-removed', () => { if (loaded) renderList(); });
}

/** GET /api/geofences into the state (the list and the map follow). */
export async function loadGeofences() {
  try {
    const list = await api.geofences();
    loaded = true;
    $('#geofence-empty').textContent = 'No geofences yet.';
    setGeofences(list);
  } catch (e) {
    if (loaded) return toast(`Could not load the geofences: ${e.message}`, 'error');
    $('#geofence-empty').textContent = `Geofences cannot be loaded: ${e.message}`;
    $('#geofence-empty').hidden = false;
  }
  return undefined;
}

// --- list and map ------------------------------------------------------------------

function sorted() {
  return [...state.geofences.values()].sort((a, b) => (a.name || '').localeCompare(b.name || '') || a.id - b.id);
}

function renderList() {
  const list = sorted();
  $('#geofence-empty').hidden = list.length > 0;
  $('#geofence-list').innerHTML = list.map((g) => `<li class="item" tabindex="0" data-geofence-id="${g.id}" data-testid="geofence-item-${g.id}" data-type="${escapeHtml(g.area?.type)}">
      <div class="item-main">
        <div class="item-title" data-testid="geofence-name">${escapeHtml(g.name)}</div>
        <div class="muted small" data-testid="geofence-area-text">${escapeHtml(areaText(g.area))}</div>
        <div class="small" data-testid="geofence-devices-text">${escapeHtml(devicesText(g.deviceIds))}</div>
      </div>
      <div class="item-actions">
        <button type="button" class="small-btn" data-action="edit" data-testid="geofence-edit-${g.id}">Edit</button>
        <button type="button" class="small-btn danger" data-action="delete" data-testid="geofence-delete-${g.id}">Delete</button>
      </div>
    </li>`).join('');
}

function renderLayer() {
  if (!layer) return;
  layer.clearLayers();
  if (!$('#geofence-visible').checked) return;
  for (const g of sorted()) {
    if (editor && editor.id === g.id) continue; // shown with handles instead
    const shape = areaLayer(g.area, { pane: 'geofences', color: '#7048e8', fillColor: '#9775fa', fillOpacity: 0.12 });
    if (!shape) continue;
    const label = document.createElement('span');
    label.textContent = g.name; // names are text, never markup
    label.dataset.testid = `geofence-label-${g.id}`;
    shape.bindTooltip(label, { permanent: true, direction: 'center', className: 'gf-label', opacity: 1 });
    shape.addTo(layer);
    const el = shape.getElement?.();
    if (el) {
      el.dataset.testid = `geofence-shape-${g.id}`;
      el.dataset.geofenceId = String(g.id);
    }
  }
}

function fitArea(area) {
  const map = getMap();
  const b = areaBounds(area);
  if (map && b && b.isValid()) map.fitBounds(b, { ...fitPadding(40), maxZoom: 17 });
}

function showOnMap(g) {
  if (!$('#geofence-visible').checked) {
    $('#geofence-visible').checked = true;
    renderLayer();
  }
  hooks.showMap();
  setTimeout(() => fitArea(g.area), 0);
}

// --- editor ----------------------------------------------------------------------

function openEditor(g) {
  if (drawing()) cancelDraw();
  editor = { id: g ? g.id : null, area: g ? structuredClone(g.area) : null, devices: null };
  const form = $('#geofence-editor');
  form.hidden = false;
  form.dataset.mode = g ? 'edit' : 'add';
  $('#geofence-editor-title').textContent = g ? 'Edit geofence' : 'New geofence';
  $('#geofence-form-name').value = g ? g.name : '';
  editor.devices = devicePicker($('#geofence-devices'), { testid: 'geofence-devices', selected: g ? g.deviceIds ?? null : null });
  formError($('#geofence-form-error'), '');
  $('#geofence-add').disabled = true;
  showArea();
  renderLayer();
  if (editor.area) fitArea(editor.area);
  form.scrollIntoView({ block: 'nearest' });
  $('#geofence-form-name').focus();
}

function closeEditor() {
  if (drawing()) cancelDraw();
  clearEditable();
  editor = null;
  $('#geofence-editor').hidden = true;
  $('#geofence-add').disabled = false;
  renderLayer();
}

/** The editor's area: text, data attributes for tests, handles on the map. */
function showArea() {
  const el = $('#geofence-area');
  const a = editor?.area;
  el.textContent = a ? `${areaText(a)} — drag the handles on the map to adjust, or draw again.` : 'Draw the area on the map.';
  el.dataset.type = a ? a.type : '';
  $('#geofence-draw-circle').textContent = a?.type === 'circle' ? 'Redraw circle' : 'Draw circle';
  $('#geofence-draw-polygon').textContent = a?.type === 'polygon' ? 'Redraw polygon' : 'Draw polygon';
  if (a) {
    showEditable(a, (changed) => {
      if (!editor) return;
      editor.area = changed;
      showArea();
    });
  } else {
    clearEditable();
  }
}

async function draw(kind) {
  if (!editor) return;
  const ed = editor;
  clearEditable();
  document.body.dataset.drawing = kind;
  hooks.showMap();
  const area = await startDraw(kind);
  delete document.body.dataset.drawing;
  if (editor !== ed) return; // the editor was closed meanwhile
  if (area) ed.area = area;
  hooks.showPane();
  showArea();
  formError($('#geofence-form-error'), '');
}

async function onSave(ev) {
  ev.preventDefault();
  if (!editor) return;
  const err = $('#geofence-form-error');
  if (drawing()) {
    formError(err, 'Finish or cancel the drawing on the map first.');
    return;
  }
  const name = $('#geofence-form-name').value.trim();
  const deviceIds = editor.devices.value();
  if (!name) return formError(err, 'A name is required.');
  if (!editor.area) return formError(err, 'Draw the area on the map: a circle or a polygon.');
  if (Array.isArray(deviceIds) && deviceIds.length === 0) return formError(err, 'Choose at least one device, or all devices.');
  const body = { name, area: editor.area, deviceIds };
  const btn = $('#geofence-form-save');
  btn.disabled = true;
  try {
    const id = editor.id;
    if (id == null) await api.addGeofence(body);
    else await api.updateGeofence(id, body);
    closeEditor();
    toast(id == null ? `Geofence “${name}” added` : `Geofence “${name}” saved`);
    await loadGeofences();
  } catch (e) {
    formError(err, e.message || 'The geofence could not be saved.');
  } finally {
    btn.disabled = false;
  }
}

async function onDelete(g) {
  if (!(await confirmDialog(`Delete geofence “${g.name}”?`))) return;
  try {
    await api.deleteGeofence(g.id);
    if (editor && editor.id === g.id) closeEditor();
    toast(`Geofence “${g.name}” deleted`);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) {
      toast(`Delete failed: ${e.message}`, 'error');
      return;
    }
  }
  try { await loadGeofences(); } catch { /* the list stays as it was */ }
}
