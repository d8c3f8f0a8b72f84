// The Leaflet map: one marker per device (SVG arrow rotated by course, name
// label and fix age), a focus marker for events, and access for the history view.

import L from 'leaflet';
import { state, on, select, deviceName } from './state.js';
import {
  escapeHtml, fmtAge, fmtTime, fmtCoord, alarmLabel, isCritical, eventCritical, hasFix,
} from './util.js';

let map = null;
let tiles = null;
const markers = new Map(); // deviceId -> L.Marker
let focusMarker = null;
let fittedOnce = false;

const ARROW = '<path d="M12 2 L19.5 20.5 L12 16.2 L4.5 20.5 Z"/>';
const DOT = '<circle cx="12" cy="12" r="6.5"/>';

export function getMap() {
  return map;
}

export function initMap(el) {
  map = L.map(el, {
    center: [20, 0],
    zoom: 2,
    worldCopyJump: true,
    zoomControl: true,
    attributionControl: true,
  });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com" target="_blank" rel="noopener">Leaflet</a>');
  // Map panes for the layers we draw, so the track stays under device markers.
  map.createPane('track').style.zIndex = 420;

  on('devices', (list) => list.forEach((d) => updateMarker(d.id)));
  on('positions', (list) => {
    const ids = new Set(list.map((p) => p.deviceId));
    ids.forEach((id) => updateMarker(id));
  });
  on('fixes', (ids) => ids.forEach((id) => updateMarker(id)));
  on('device-removed', (id) => removeMarker(id));
  on('select', (id) => {
    markers.forEach((m, mid) => m.getElement()?.classList.toggle('selected', mid === id));
    if (id != null) centreOn(id);
  });

  // Fix ages are relative: refresh them every few seconds.
  setInterval(refreshAges, 5000);
  return map;
}

/** Base layer from GET /api/server; a failing tile load only leaves grey tiles. */
export function setTiles(url, attribution) {
  if (tiles) {
    tiles.remove();
    tiles = null;
  }
  if (!url) return;
  tiles = L.tileLayer(url, {
    maxZoom: 19,
    attribution: attribution || '',
    crossOrigin: false,
  });
  tiles.on('tileerror', () => { /* offline or blocked: keep going without tiles */ });
  tiles.addTo(map);
}

function markerHtml(d, fix) {
  const course = typeof fix.course === 'number' ? fix.course : null;
  const shape = course === null ? DOT : ARROW;
  return `<div class="dm" data-testid="marker-${d.id}" data-device-id="${d.id}">` +
    `<svg class="dm-arrow" viewBox="0 0 24 24" aria-hidden="true">${shape}</svg>` +
    `<div class="dm-label"><span class="dm-name"></span><span class="dm-age"></span></div></div>`;
}

function paint(el, d, fix) {
  const root = el.querySelector('.dm');
  if (!root) return;
  root.dataset.status = d.status || 'unknown';
  root.dataset.lat = String(fix.latitude);
  root.dataset.lon = String(fix.longitude);
  root.dataset.time = fix.time || '';
  root.dataset.positionId = fix.id != null ? String(fix.id) : '';
  root.classList.toggle('alarm', Array.isArray(fix.alarms) && fix.alarms.some(isCritical));
  root.classList.toggle('selected', state.selectedId === d.id);
  const svg = root.querySelector('.dm-arrow');
  const course = typeof fix.course === 'number' ? fix.course : null;
  if (course !== null && !svg.innerHTML.includes('path')) svg.innerHTML = ARROW;
  if (course === null && !svg.innerHTML.includes('circle')) svg.innerHTML = DOT;
  svg.style.transform = course !== null ? `rotate(${course}deg)` : '';
  root.dataset.course = course !== null ? String(course) : '';
  root.querySelector('.dm-name').textContent = d.name || d.uniqueId;
  const age = root.querySelector('.dm-age');
  age.textContent = fmtAge(fix.time);
  age.title = fmtTime(fix.time);
}

export function updateMarker(id) {
  if (!map) return;
  const d = state.devices.get(id);
  const fix = state.lastFix.get(id);
  if (!d || !hasFix(fix)) {
    removeMarker(id);
    return;
  }
  let m = markers.get(id);
  const ll = [fix.latitude, fix.longitude];
  if (!m) {
    m = L.marker(ll, {
      icon: L.divIcon({ className: 'dm-icon', html: markerHtml(d, fix), iconSize: [24, 24], iconAnchor: [12, 12] }),
      title: d.name || d.uniqueId,
      riseOnHover: true,
      keyboard: true,
    });
    m.on('click', () => select(id));
    m.addTo(map);
    markers.set(id, m);
  } else {
    m.setLatLng(ll);
  }
  const el = m.getElement();
  if (el) paint(el, d, fix);
  // Tell anyone watching (tests, embedders) that the page shows this record now.
  window.dispatchEvent(new CustomEvent('trackd:marker', { detail: { deviceId: id, position: fix } }));
}

function removeMarker(id) {
  const m = markers.get(id);
  if (m) {
    m.remove();
    markers.delete(id);
  }
}

function refreshAges() {
  markers.forEach((m, id) => {
    const fix = state.lastFix.get(id);
    const age = m.getElement()?.querySelector('.dm-age');
    if (age && fix) age.textContent = fmtAge(fix.time);
  });
}

/** Fit every device once, when the first fixes are known. */
export function fitAllOnce() {
  if (fittedOnce || !map) return;
  const pts = [...markers.values()].map((m) => m.getLatLng());
  if (!pts.length) return;
  fittedOnce = true;
  if (pts.length === 1) map.setView(pts[0], 15);
  else map.fitBounds(L.latLngBounds(pts), { padding: [40, 40], maxZoom: 16 });
}

/** Padding for fitBounds that keeps a drawing clear of the device panel. */
export function fitPadding(base = 30) {
  const opts = { paddingTopLeft: [base, base], paddingBottomRight: [base, base] };
  const panel = document.getElementById('device-panel');
  if (!map || !panel || panel.hidden) return opts;
  const m = map.getContainer().getBoundingClientRect();
  const p = panel.getBoundingClientRect();
  if (p.width >= m.width * 0.9) opts.paddingBottomRight[1] += Math.round(p.height);
  else opts.paddingTopLeft[0] += Math.round(p.right - m.left);
  return opts;
}

export function centreOn(id) {
  const fix = state.lastFix.get(id);
  if (!map || !hasFix(fix)) return;
  map.setView([fix.latitude, fix.longitude], Math.max(map.getZoom(), 15), { animate: false });
  // Keep the marker clear of the device panel: beside it on wide screens,
  // above it where the panel is a bottom sheet.
  requestAnimationFrame(() => {
    const panel = document.getElementById('device-panel');
    if (!panel || panel.hidden) return;
    const m = map.getContainer().getBoundingClientRect();
    const p = panel.getBoundingClientRect();
    if (p.width >= m.width * 0.9) map.panBy([0, Math.round(p.height / 2)], { animate: false });
    else map.panBy([-Math.round((p.right - m.left) / 2), 0], { animate: false });
  });
}

/** Centre on an event (or any point) with a marker and an open popup. */
export function showPoint({ latitude, longitude, title, body, critical }) {
  if (!map) return;
  if (focusMarker) focusMarker.remove();
  focusMarker = L.circleMarker([latitude, longitude], {
    radius: 11,
    color: critical ? '#b00020' : '#1c5fd4',
    weight: 3,
    fillColor: critical ? '#ff4d4f' : '#5b8def',
    fillOpacity: 0.55,
    pane: 'markerPane',
  });
  focusMarker.bindPopup(`<div data-testid="focus-popup"><strong>${escapeHtml(title)}</strong><br>${body}</div>`,
    { autoPan: true, closeButton: true });
  focusMarker.addTo(map);
  map.setView([latitude, longitude], Math.max(map.getZoom(), 16));
  focusMarker.openPopup();
}

export function showEvent(ev, position) {
  const p = hasFix(ev) ? ev : position;
  if (!hasFix(p)) return false;
  showPoint({
    latitude: p.latitude,
    longitude: p.longitude,
    title: `${alarmLabel(ev.type)} — ${deviceName(ev.deviceId)}`,
    body: `${escapeHtml(fmtTime(ev.time))}<br>${escapeHtml(fmtCoord(p.latitude, p.longitude))}`,
    critical: eventCritical(ev),
  });
  return true;
}

export function clearFocus() {
  if (focusMarker) {
    focusMarker.remove();
    focusMarker = null;
  }
}

/**
 * Runs fn, which may move the map's top edge (the alert banner appears or
 * goes), and keeps what the map shows where it was on the screen: nothing
 * jumps under the pointer, e.g. while a geofence is being drawn.
 */
export function keepStill(fn) {
  if (!map) {
    fn();
    return;
  }
  const el = map.getContainer();
  const before = el.getBoundingClientRect().top;
  fn();
  const dy = el.getBoundingClientRect().top - before;
  if (!dy || !el.offsetParent) return;
  map.invalidateSize({ pan: false });
  map.panBy([0, dy], { animate: false });
}

/** Leaflet needs this after its container changes size (tabs, drawers). */
export function invalidate() {
  if (map) setTimeout(() => map.invalidateSize(), 0);
}

export { L };
